"""The typed c4actors wire protocol, shared by the server, the load tester and the tests."""

from protocol.messages import *  # noqa: F403
