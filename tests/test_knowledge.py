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

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from dify_on_aws.app import SynthResult
from dify_on_aws.config import DifyConfig
from dify_on_aws.config.knowledge import reachability_problem
from dify_on_aws.config.loader import ConfigError, load_config
from dify_on_aws.services.knowledge import ENV_KEY_ARN, ENV_KNOWLEDGE_BASES, STAGE
from dify_on_aws.services.ssrf_proxy import CONFIG_ENV, INTERNAL_HOSTS_ENV, INTERNAL_HOSTS_PATH, squid_config

from .conftest import ROOT, config_of
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


# --- a closed network: a private REST API behind the deployment's execute-api endpoint ------------------

CLOSED_EXAMPLE = ROOT / "examples" / "closed-network.toml"
MIRROR = "111111111111.dkr.ecr.eu-central-1.amazonaws.com"


@pytest.fixture(scope="module")
def closed(synth: Callable[[DifyConfig], SynthResult]) -> Mapping[str, Any]:
    (body,) = synth(load_config(CLOSED_EXAMPLE)).templates.values()
    return body


def _execute_api_endpoint(resources: Mapping[str, Mapping[str, Any]]) -> tuple[str, Mapping[str, Any]]:
    (found,) = [
        (rid, e["Properties"])
        for rid, e in of_type(resources, "AWS::EC2::VPCEndpoint").items()
        if "execute-api" in json.dumps(e["Properties"]["ServiceName"])
    ]
    return found


def _private_api(resources: Mapping[str, Mapping[str, Any]]) -> tuple[str, Mapping[str, Any]]:
    (found,) = [(rid, a["Properties"]) for rid, a in of_type(resources, "AWS::ApiGateway::RestApi").items()]
    return found


def test_closed_network_is_no_longer_refused() -> None:
    problem = reachability_problem(enabled=True, nat_gateways=0, closed=True, allowed_domains=[], region=None)
    assert problem is None
    assert load_config(CLOSED_EXAMPLE).knowledge_bases.ids


def test_closed_network_serves_a_private_api_only_its_endpoint_may_invoke(closed: Mapping[str, Any]) -> None:
    """Per "Private REST APIs in API Gateway", a private API is callable only through an execute-api interface
    endpoint, and "Set up a resource policy for a private API": without a resource policy it cannot be
    deployed. The API is associated with the endpoint (EndpointConfiguration.VpcEndpointIds), which is what
    publishes the Route 53 alias name `<api-id>-<vpce-id>.execute-api.<region>.amazonaws.com` ("Invoke a
    private API": Route53 alias). No function URL, and the function stays outside the VPC."""
    resources = closed["Resources"]
    endpoint_id, _ = _execute_api_endpoint(resources)
    api_id, api = _private_api(resources)
    assert api["EndpointConfiguration"] == {"Types": ["PRIVATE"], "VpcEndpointIds": [{"Ref": endpoint_id}]}
    (statement,) = api["Policy"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "execute-api:Invoke"
    assert statement["Principal"] == "*"
    assert statement["Resource"] == "execute-api:/*"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceVpce": {"Ref": endpoint_id}}}
    function_id, function = _function(resources)
    assert "VpcConfig" not in function["Properties"]
    assert of_type(resources, "AWS::Lambda::Url") == {}
    # Every method is a Lambda proxy integration to the knowledge function (payload format 1.0).
    methods = [m["Properties"] for m in of_type(resources, "AWS::ApiGateway::Method").values()]
    assert methods and all(m["RestApiId"] == {"Ref": api_id} for m in methods)
    for method in methods:
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert {"Fn::GetAtt": [function_id, "Arn"]} in method["Integration"]["Uri"]["Fn::Join"][1]
    invokers = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert invokers and {p["Principal"] for p in invokers} == {"apigateway.amazonaws.com"}


def test_the_private_api_logs_nothing_that_needs_the_account_role(closed: Mapping[str, Any]) -> None:
    """Per "Set up CloudWatch logging for REST APIs", stage logging needs the account-wide API Gateway
    CloudWatch role, and without it creating the stage fails ("CloudWatch Logs role ARN must be set in
    account settings to enable logging"). The stack neither logs on the stage nor owns that setting."""
    resources = closed["Resources"]
    assert of_type(resources, "AWS::ApiGateway::Account") == {}
    (stage,) = [s["Properties"] for s in of_type(resources, "AWS::ApiGateway::Stage").values()]
    assert stage["StageName"] == STAGE
    assert "AccessLogSetting" not in stage
    assert all("LoggingLevel" not in m for m in stage.get("MethodSettings", []))


def test_the_execute_api_endpoint_has_no_private_dns_and_reaches_only_this_account(
    closed: Mapping[str, Any],
) -> None:
    """Private DNS off: with it on, the VPC could not reach public APIs any more and an imported VPC's own
    execute-api endpoint would conflict ("Invoke a private API", warning on private DNS); the alias name works
    either way. Its policy admits invocations of this account's APIs only, so the SSRF proxy's one allowed
    name cannot become a path to somebody else's private API."""
    resources = closed["Resources"]
    _, endpoint = _execute_api_endpoint(resources)
    assert endpoint["PrivateDnsEnabled"] is False
    (statement,) = endpoint["PolicyDocument"]["Statement"]
    assert statement["Principal"] == "*"
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == "arn:aws:execute-api:eu-central-1:111111111111:*"


def test_the_ssrf_proxy_lets_through_exactly_the_registered_host(closed: Mapping[str, Any]) -> None:
    """Dify's requests go through Squid, which denies VPC addresses: the API's alias name (the output's
    host) is the one name it admits there, written from the task's environment into the file squid.conf
    reads."""
    resources = closed["Resources"]
    endpoint = closed["Outputs"]["KnowledgeApiEndpoint"]["Value"]["Fn::Join"][1]
    assert endpoint[0] == "https://" and endpoint[-1] == f"/{STAGE}"
    host = endpoint[1:-1]
    environment = _container_environment(resources, "ssrf-proxy")
    assert environment[INTERNAL_HOSTS_ENV] == {"Fn::Join": ["", host]}
    conf = base64.b64decode(environment[CONFIG_ENV]).decode()
    assert f'acl ssrf_internal_hosts dstdomain -n "{INTERNAL_HOSTS_PATH}"' in conf.splitlines()
    rules = [line for line in conf.splitlines() if line.startswith("http_access")]
    allow = rules.index("http_access allow ssrf_connect ssrf_internal_port ssrf_internal_hosts")
    assert rules.index("http_access deny ssrf_metadata") < allow < rules.index("http_access deny ssrf_denied")
    # The only endpoint output is that URL: CDK's default one names a host that needs private DNS.
    assert [k for k, v in closed["Outputs"].items() if "execute-api" in json.dumps(v)] == [
        "KnowledgeApiEndpoint"
    ]


def test_only_the_knowledge_endpoint_without_endpoints(synth: Callable[[DifyConfig], SynthResult]) -> None:
    """`network.endpoints = false` (an imported VPC that brings its own): the knowledge API's endpoint is
    still the stack's, since the API must be associated with it."""
    data = {
        "region": "eu-central-1",
        "account": "111111111111",
        "network": {
            "closed": True,
            "endpoints": False,
            "vpc_id": "vpc-0a1b2c3d4e5f60718",
            "cidr": "10.40.0.0/16",
            "availability_zones": ["eu-central-1a", "eu-central-1b"],
            "private_subnet_ids": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        },
        "images": {"registry": f"{MIRROR}/langgenius"},
        "ssrf_proxy": {"image": f"{MIRROR}/ubuntu/squid:6.6-24.04_beta"},
        "front_door": {"type": "alb", "internal": True},
        "knowledge_bases": {"ids": KBS},
    }
    (body,) = [b for b in synth(config_of(**data)).templates.values() if "Resources" in b]
    (endpoint,) = of_type(body["Resources"], "AWS::EC2::VPCEndpoint").values()
    assert "execute-api" in json.dumps(endpoint["Properties"]["ServiceName"])
    assert endpoint["Properties"]["SubnetIds"] == data["network"]["private_subnet_ids"]  # type: ignore[index]


def test_open_networks_have_no_internal_hosts(resources: Mapping[str, Mapping[str, Any]]) -> None:
    environment = _container_environment(resources, "ssrf-proxy")
    assert INTERNAL_HOSTS_ENV not in environment
    assert "ssrf_internal_hosts" not in base64.b64decode(environment[CONFIG_ENV]).decode()


def _container_environment(resources: Mapping[str, Mapping[str, Any]], name: str) -> dict[str, Any]:
    for task in of_type(resources, "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            if container["Name"] == name:
                return {e["Name"]: e["Value"] for e in container.get("Environment", [])}
    raise AssertionError(name)


def test_the_function_answers_before_the_gateway_gives_up(closed: Mapping[str, Any]) -> None:
    """Per "Amazon API Gateway quotas", a REST API integration times out after 29 s by default, and Dify
    then gets a bare 504; the function stops first and answers with its own error."""
    _, function = _function(closed["Resources"])
    assert function["Properties"]["Timeout"] < 29
