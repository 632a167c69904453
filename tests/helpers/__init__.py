"""What several test modules share: waits, fixtures' building blocks, crafted files."""
