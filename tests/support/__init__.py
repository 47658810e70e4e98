"""Test support: real servers started on 127.0.0.1 with port 0, shared by every suite."""
