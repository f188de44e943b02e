"""Reading and writing files: atomic outputs, digests, subset manifests, bounded reading of participants' files."""
