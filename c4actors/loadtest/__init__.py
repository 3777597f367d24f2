"""The load tester: many simulated players speaking ``protocol/`` over trio-websocket."""
