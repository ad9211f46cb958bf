"""Amazon Bedrock knowledge bases as Dify external knowledge: what the stack deploys for `[knowledge_bases]`,
and the configurations it refuses because Dify could not reach the API.

Sources: Dify sends external-knowledge requests through its SSRF proxy helper (langgenius/dify
api/core/helper/ssrf_proxy.py, used by api/services/external_knowledge_service.py), and our Squid denies
every private and VPC address (services/ssrf_proxy.py); AWS Lambda "Control access to Lambda function URLs"
(auth type NONE needs a public lambda:InvokeFunctionUrl permission with FunctionUrlAuthType NONE and, for
function URLs created since October 2025, lambda:InvokeFunction too); Amazon Bedrock "Actions, resources,
and condition keys" (Retrieve on the knowledge-base resource
arn:${Partition}:bedrock:${Region}:${Account}:knowledge-base/${KnowledgeBaseId}).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig
from dify_on_aws.config.knowledge import reachability_problem
from dify_on_aws.config.loader import ConfigError
from dify_on_aws.services.knowledge import ENV_KEY_ARN, ENV_KNOWLEDGE_BASES
from dify_on_aws.services.ssrf_proxy import squid_config

from .conftest import config_of
from .template_queries import as_list, function_role, of_type, role_statements

KBS = ["ABCDEFGHIJ", "0123456789"]
BASE = {"account": "123456789012", "region": "eu-west-1", "knowledge_bases": {"ids": KBS}}


@pytest.fixture(scope="module")
def resources(synth: Callable[[DifyConfig], SynthResult]) -> Mapping[str, Mapping[str, Any]]:
    (body,) = [b for b in synth(config_of(**BASE)).templates.values() if "Resources" in b]
    return body["Resources"]  # type: ignore[no-any-return]


def _function(resources: Mapping[str, Mapping[str, Any]]) -> tuple[str, Mapping[str, Any]]:
    (found,) = [
        (rid, f)
        for rid, f in of_type(resources, "AWS::Lambda::Function").items()
        if ENV_KNOWLEDGE_BASES in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    return found


def test_retrieve_only_on_the_configured_knowledge_bases(resources: Mapping[str, Mapping[str, Any]]) -> None:
    function_id, _ = _function(resources)
    statements = role_statements(resources, function_role(resources, function_id))
    retrieve = [s for s in statements if "bedrock:Retrieve" in as_list(s["Action"])]
    assert [as_list(s["Action"]) for s in retrieve] == [["bedrock:Retrieve"]]
    assert sorted(as_list(retrieve[0]["Resource"])) == sorted(
        f"arn:aws:bedrock:eu-west-1:123456789012:knowledge-base/{kb}" for kb in KBS
    )
    bedrock = [a for s in statements for a in as_list(s["Action"]) if str(a).startswith("bedrock:")]
    assert bedrock == ["bedrock:Retrieve"]


def test_knowledge_base_region_is_honoured(synth: Callable[[DifyConfig], SynthResult]) -> None:
    config = config_of(**{**BASE, "knowledge_bases": {"ids": KBS[:1], "region": "us-west-2"}})
    (body,) = [b for b in synth(config).templates.values() if "Resources" in b]
    function_id, function = _function(body["Resources"])
    statements = role_statements(body["Resources"], function_role(body["Resources"], function_id))
    (retrieve,) = [s for s in statements if "bedrock:Retrieve" in as_list(s["Action"])]
    assert as_list(retrieve["Resource"]) == [
        f"arn:aws:bedrock:us-west-2:123456789012:knowledge-base/{KBS[0]}"
    ]
    assert function["Properties"]["Environment"]["Variables"]["DIFY_KNOWLEDGE_REGION"] == "us-west-2"


def test_the_key_is_generated_and_never_in_the_environment(
    resources: Mapping[str, Mapping[str, Any]],
) -> None:
    function_id, function = _function(resources)
    variables = function["Properties"]["Environment"]["Variables"]
    secret_ref = variables[ENV_KEY_ARN]
    (secret_id,) = secret_ref.values()
    assert secret_ref == {"Ref": secret_id}  # the secret's ARN, not its value
    secret = resources[secret_id]["Properties"]
    assert "GenerateSecretString" in secret and "SecretString" not in secret
    assert "resolve:secretsmanager" not in json.dumps(variables)
    assert json.loads(variables[ENV_KNOWLEDGE_BASES]) == KBS
    statements = role_statements(resources, function_role(resources, function_id))
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    assert [s["Resource"] for s in reads] == [{"Ref": secret_id}]


def test_public_function_url_reachable_through_the_ssrf_proxy(
    resources: Mapping[str, Mapping[str, Any]],
) -> None:
    """The function sits outside the VPC behind a public URL (auth NONE, both permissions AWS requires), so
    Squid, which denies private and VPC addresses but allows public ones, forwards Dify's requests."""
    function_id, function = _function(resources)
    assert "VpcConfig" not in function["Properties"]
    (url,) = [
        u["Properties"]
        for u in of_type(resources, "AWS::Lambda::Url").values()
        if u["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert url["AuthType"] == "NONE"
    permissions = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    by_action = {p["Action"]: p for p in permissions}
    assert by_action["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert by_action["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
    assert {p["Principal"] for p in permissions} == {"*"}
    # Squid: public destinations pass unless allowed_domains is set (then the function URL domain must be).
    conf = squid_config(denied_cidrs=["10.0.0.0/16"], allowed_domains=[".lambda-url.eu-west-1.on.aws"])
    assert "acl ssrf_allowed_domains dstdomain -n .lambda-url.eu-west-1.on.aws" in conf


def test_outputs_name_the_endpoint_and_the_secret(synth: Callable[[DifyConfig], SynthResult]) -> None:
    (body,) = [b for b in synth(config_of(**BASE)).templates.values() if "Resources" in b]
    outputs = body["Outputs"]
    endpoint = outputs["KnowledgeApiEndpoint"]["Value"]
    # "https://" + the URL's host: Dify appends "/retrieval", and function URLs end in "/".
    assert endpoint["Fn::Join"][1][0] == "https://"
    assert endpoint["Fn::Join"][1][1]["Fn::Select"][0] == 2
    _, function = _function(body["Resources"])
    assert (
        outputs["KnowledgeApiKeySecretArn"]["Value"]
        == function["Properties"]["Environment"]["Variables"][ENV_KEY_ARN]
    )


def test_nothing_without_knowledge_bases(default_result: SynthResult) -> None:
    for body in default_result.templates.values():
        assert "KnowledgeApiEndpoint" not in body.get("Outputs", {})
        for function in of_type(body.get("Resources", {}), "AWS::Lambda::Function").values():
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            assert ENV_KNOWLEDGE_BASES not in variables


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"network": {"nat_gateways": 0}}, "network.nat_gateways = 0"),
        ({"ssrf_proxy": {"allowed_domains": [".example.com"]}}, "'.lambda-url.eu-west-1.on.aws'"),
        ({"knowledge_bases": {"ids": ["kb-123"]}}, "'kb-123' is not a knowledge base ID"),
        ({"knowledge_bases": {"ids": KBS, "region": "Europe"}}, "region"),
    ],
)
def test_unreachable_or_invalid_configs_are_refused(extra: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match="knowledge_bases") as caught:
        config_of(**{**BASE, **extra})
    assert fragment in str(caught.value)


def test_allowed_domains_covering_function_urls_are_accepted() -> None:
    for domains in ([".lambda-url.eu-west-1.on.aws"], [".on.aws"], [".eu-west-1.on.aws", "example.com"]):
        config_of(**{**BASE, "ssrf_proxy": {"allowed_domains": domains}})


def test_closed_network_is_refused() -> None:
    """`network.closed` (a VPC without internet) cannot reach a public function URL."""
    problem = reachability_problem(enabled=True, nat_gateways=1, closed=True, allowed_domains=[], region=None)
    assert problem is not None and "network.closed" in problem
