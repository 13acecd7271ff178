"""Test machinery shared by the test packages (not part of the product).

- :mod:`support.waiting`: ``wait_until``, the one poll-with-a-deadline of the suite.
- :mod:`support.recorder`: ``Seen``, ``Recorder`` and ``RecordingHandler``, what a test
  server's handlers saw, for the tests to wait on.
- :mod:`support.server_thread`: ``ServerThread``, our ``Server`` on a loop in a thread.
"""
