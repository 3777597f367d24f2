"""One lobby across processes: edges own the WebSockets, one core runs the lobby and the
games, and they talk through streams (``c4actors.cluster.wire`` says what travels)."""
