"""Speech-to-text jobs: the interface and Amazon Transcribe's output format (base, output), the offline
stand-in (local, with its own table access in local_store) and Amazon Transcribe (aws, the only module here
that imports boto3, loaded only by services/backends.py when TRANSCRIBE_BACKEND=aws)."""
