"""The Trio actors: one lobby, one task per connected user, one task per game."""
