"""Inference backends: the interface, its errors and Bedrock's input validators (base), the Bedrock
implementation (bedrock, the only module here that imports boto3) and the offline stand-in (local)."""
