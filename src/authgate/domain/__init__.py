"""The domain: users, passwords, tokens, sessions, signing keys and the use cases over them.

Nothing in this package speaks HTTP or SQL. The use cases talk to storage through the Protocols in
`authgate.storage.base` and run CPU-heavy work (password hashing) through the pool they are given.
"""
