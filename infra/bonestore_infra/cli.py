"""The `bonestore` command (placeholder until the CLI lands)."""


def main() -> None:
    raise SystemExit("bonestore: not yet")
