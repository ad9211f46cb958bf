"""Dify on AWS: an AWS CDK app and construct library for Dify 1.x on managed AWS services."""

__version__ = "0.1.0"
