"""Black-box OpenADR 3.0.1 VTN conformance suite (`oadr-conformance`).

It talks to a VTN over HTTP only; it imports the wire definitions (`openadr3`) and, for
`--profile gb`, the GB profile validator, never the VTN itself.
"""

from conformance.core import CHECKS, Config, Outcome, Result, run_suite

__all__ = ["CHECKS", "Config", "Outcome", "Result", "run_suite"]
