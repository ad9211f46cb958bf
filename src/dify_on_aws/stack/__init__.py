"""The composition root: DifyStack builds every unit from the config and wires them."""

from dify_on_aws.stack.dify_stack import DifyStack

__all__ = ["DifyStack"]
