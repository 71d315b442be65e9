"""Share one verifying TLS client context per CA bundle for the whole process.

``ssl.create_default_context()`` parses the system's trust store each time it is called —
some 20 ms, paid on every HTTP attempt and every email channel before this module. An
``SSLContext`` is safe to share between threads once configured, so the HTTP and email
channels take theirs from here.

The cache is keyed on the CA file and on ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as they are when
asked: OpenSSL reads those variables when the default trust store is loaded, so a process
that sets them later (a test, a wrapper script) still gets a context that honours them. A
CA file whose contents change while the process runs is not re-read; a new process is.
"""

from __future__ import annotations

import functools
import os
import ssl

__all__ = ["client_context"]


def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Return the process's verifying client context: the system's CAs, or ``ca_file``'s.

    Raises ``OSError`` (``ssl.SSLError`` included) or ``ValueError`` when ``ca_file`` cannot
    be read; a failure is not cached.
    """
    return _context(ca_file, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _context(ca_file: str | None, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # cert_file and cert_dir are only part of the key: OpenSSL reads them from the environment
    return ssl.create_default_context(cafile=ca_file)
