"""Thin handlers: decode the request, call a use case, encode the answer."""
