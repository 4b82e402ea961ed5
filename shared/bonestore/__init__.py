"""bonestore: the store and shipping-rules service (what runs in Lambda)."""
