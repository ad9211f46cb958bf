"""The template model: what cost, diagram and the security page know about synthesized templates.

`read_templates` loads them (from a cloud assembly such as cdk.out, or from files), `read_assembly` also
the construct metadata of each stack, `Templates` holds the
resources of a deployment and resolves references within and across stacks, `intrinsics` works out the
CloudFormation functions. No other module interprets Ref or Fn::*.
"""

from dify_on_aws.templates.files import (
    Assembly,
    MetadataEntry,
    TemplateInputError,
    assembly_templates,
    read_assembly,
    read_templates,
)
from dify_on_aws.templates.intrinsics import attributes, number
from dify_on_aws.templates.model import Key, Resource, Template, Templates

__all__ = [
    "Assembly",
    "Key",
    "MetadataEntry",
    "Resource",
    "Template",
    "TemplateInputError",
    "Templates",
    "assembly_templates",
    "attributes",
    "number",
    "read_assembly",
    "read_templates",
]
