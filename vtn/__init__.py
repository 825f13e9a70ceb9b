"""The OpenADR 3 VTN server."""
