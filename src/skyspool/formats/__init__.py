"""Input formats: one parser per format, registered with a decorator
(:mod:`skyspool.formats.registry`).

A parser takes the raw bytes of a received file and either returns a :class:`Message`
(what the file is, which event it belongs to, how to name it in the spool) or raises
:class:`Refused` with a one-line reason a person understands. :func:`identify` is the
whole dispatcher: it offers the bytes to each registered parser whose ``sniff`` accepts
them, in registration order.

Importing this package registers every built-in format.
"""

from skyspool.formats.registry import (  # noqa: F401  (the package's names)
    FORMATS, HEAD_BYTES, LARGE_FORMATS, SIGNATURES, Format, LargeFormat, Message, Parser, Refused, Sniffer,
    identify, large_format, load_json_object, looks_like_json_object, register, register_large)

from skyspool.formats import gwalert  # noqa: F401  (registers the formats)
from skyspool.formats import gcn_voevent, gcnjson  # noqa: F401  (GCN notices)
from skyspool.formats import frb  # noqa: F401  (FRB observations: AMBER chunks, YAML)
from skyspool.formats import coinc, dqsegments  # noqa: F401  (GW pipeline candidates)
from skyspool.formats import filterbank  # noqa: F401  (FRB filterbank data)
