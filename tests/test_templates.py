"""The template model (dify_on_aws.templates): intrinsic functions, references within and across stacks,
and reading a cloud assembly with its construct metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig, load_config
from dify_on_aws.templates import TemplateInputError, Templates, read_assembly
from dify_on_aws.templates.intrinsics import resolve

from .conftest import ROOT

PARAMS = {"Env": {"Type": "String", "Default": "prod"}, "Size": {"Type": "Number", "Default": "2"}}
CONDITIONS = {
    "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
    "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ({"Ref": "Env"}, "prod"),
        ({"Fn::Join": ["-", ["dify", {"Ref": "Env"}]]}, "dify-prod"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}, "b"),
        ({"Fn::Sub": "dify-${Env}-${!Literal}"}, "dify-prod-${Literal}"),
        ({"Fn::Sub": ["${A}/${Env}", {"A": "x"}]}, "x/prod"),
        ({"Fn::If": ["IsProd", "big", "small"]}, "big"),
        ({"Fn::If": ["IsDev", "big", "small"]}, "small"),
        ({"Ref": "Bucket"}, None),  # a resource: known at deploy time only
        ({"Ref": "AWS::Region"}, None),
        ({"Fn::GetAtt": ["Bucket", "Arn"]}, None),
        ({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}]]}, None),
        ({"Fn::If": ["Unknown", "a", "b"]}, None),
    ],
)
def test_intrinsics_resolve_what_the_template_decides(value: Any, expected: Any) -> None:
    assert resolve(value, PARAMS, CONDITIONS) == expected


def deployment() -> dict[str, Any]:
    """A producer stack exporting a bucket, a us-east-1 stack writing a function version for another
    region, and a consumer using both (Fn::ImportValue and the CDK's cross-region reader)."""
    producer = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {"B": {"Value": {"Ref": "Bucket"}, "Export": {"Name": "shared-bucket"}}},
    }
    edge = {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
            "Version": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
            "Writer": {
                "Type": "Custom::CrossRegionExportWriter",
                "Properties": {"WriterProps": {"exports": {"/cdk/exports/x/version": {"Ref": "Version"}}}},
            },
        }
    }
    consumer = {
        "Resources": {
            "Reader": {"Type": "Custom::CrossRegionExportReader", "Properties": {}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": {"Statement": [{"Resource": {"Fn::ImportValue": "shared-bucket"}}]},
                },
            },
            "Cdn": {
                "Type": "AWS::CloudFront::Distribution",
                "Properties": {"Edge": {"Fn::GetAtt": ["Reader", "/cdk/exports/x/version"]}},
            },
        }
    }
    return {"Producer": producer, "Edge": edge, "Consumer": consumer}


def test_references_follow_imports_and_cross_region_values() -> None:
    t = Templates(deployment())
    policy = t.props(("Consumer", "Policy"))
    assert t.refs("Consumer", policy) == [("Consumer", "Role"), ("Producer", "Bucket")]
    edge = t.props(("Consumer", "Cdn"))["Edge"]
    assert t.refs("Consumer", edge) == [("Edge", "Version")]
    version = t.target("Consumer", edge)
    assert version is not None and version.key == ("Edge", "Version")


def test_what_a_resource_references_and_what_references_it() -> None:
    t = Templates(deployment())
    assert t.references(("Edge", "Version")) == [("Edge", "Fn")]
    assert t.referenced_by(("Edge", "Fn")) == [("Edge", "Version")]
    assert sorted(t.referenced_by(("Edge", "Version"))) == [("Consumer", "Cdn"), ("Edge", "Writer")]
    assert t.referencing("AWS::IAM::Policy", "Roles", ("Consumer", "Role")) == [("Consumer", "Policy")]
    assert t.referenced_by(("Producer", "Bucket")) == [("Consumer", "Policy")]


def test_resources_keep_template_order_and_stack_regions() -> None:
    t = Templates(deployment(), regions={"Edge": "us-east-1"})
    assert [r.id for r in t.of("AWS::Lambda::Version", "AWS::Lambda::Function")] == ["Fn", "Version"]
    assert t.get(("Edge", "Fn")) is not None and t.get(("Edge", "Fn")).region == "us-east-1"  # type: ignore[union-attr]
    assert t.type(("Nope", "X")) == "" and t.props(("Nope", "X")) == {}


def test_a_real_cross_region_reference_resolves_to_the_edge_function(
    synth: Callable[[DifyConfig], SynthResult],
) -> None:
    """The `lambda` front door's Lambda@Edge version is handed from the us-east-1 stack through the CDK's
    cross-region SSM reference; the model follows it to the function."""
    result = synth(load_config(ROOT / "examples" / "lambda.toml"))
    t = Templates(result.templates)
    (dist,) = t.of("AWS::CloudFront::Distribution")
    behavior = dist.props["DistributionConfig"]["DefaultCacheBehavior"]
    (association,) = behavior["LambdaFunctionAssociations"]
    version = t.target(dist.stack, association["LambdaFunctionARN"])
    assert version is not None and version.type == "AWS::Lambda::Version" and version.stack != dist.stack
    function = t.target(version.stack, version.props["FunctionName"])
    assert function is not None and function.type == "AWS::Lambda::Function"


def test_read_assembly_reads_templates_and_construct_metadata(tmp_path: Path) -> None:
    (tmp_path / "A.template.json").write_text(json.dumps({"Resources": {}}), encoding="utf-8")
    (tmp_path / "A.metadata.json").write_text(
        json.dumps({"/A/Thing": [{"type": "dify:note", "data": {"x": 1}}]}), encoding="utf-8"
    )
    artifact = {
        "type": "aws:cloudformation:stack",
        "properties": {"templateFile": "A.template.json"},
        "metadata": {"/A": [{"type": "aws:cdk:warning", "data": "w"}]},
        "additionalMetadataFile": "A.metadata.json",
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": {"A": artifact}}), encoding="utf-8")
    assembly = read_assembly(tmp_path)
    assert assembly.templates == {"A": {"Resources": {}}}
    assert [(e.path, e.type) for e in assembly.metadata["A"]] == [
        ("/A", "aws:cdk:warning"),
        ("/A/Thing", "dify:note"),
    ]
    with pytest.raises(TemplateInputError, match="not a cloud assembly"):
        read_assembly(tmp_path / "nowhere")


def test_an_import_inside_a_join_keeps_the_other_references() -> None:
    t = Templates(deployment())
    joined = {"Fn::Join": ["", [{"Fn::ImportValue": "shared-bucket"}, {"Ref": "Role"}]]}
    assert t.refs("Consumer", joined) == [("Consumer", "Role"), ("Producer", "Bucket")]
    bucket = t.target("Consumer", {"Fn::ImportValue": "shared-bucket"})
    assert bucket is not None and bucket.key == ("Producer", "Bucket")
