"""Architecture diagrams of a deployment, derived from its synthesized CloudFormation templates."""
