def normalise(name: str) -> str:
    return name.strip().lower()
