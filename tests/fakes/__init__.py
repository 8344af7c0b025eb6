"""Fake network servers (real HTTP on 127.0.0.1) replaying recorded traffic, and a fake desk."""
