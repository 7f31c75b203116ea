"""Deployment artefacts generated from the resource declaration (`chalicelib/resources.py`):
Chalice's config and IAM policies, and Terraform for dev, staging and prod."""
