"""One module per headless command; each exposes ``async def run(args) -> int``."""
