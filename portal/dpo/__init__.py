"""The data protection officer's pages: search the access log, read an entry, check its integrity, and
review emergency (break-glass) accesses. Each page is itself an access, so each passes the gate."""
