"""GB profile services of the VTN that are not OpenADR objects: FSP public keys, evidence bundles."""
