"""Diagram rules for data: Aurora and RDS, ElastiCache, S3 buckets (and the bucket their access logs
go to)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from dify_on_aws.diagram import graph
from dify_on_aws.diagram.rules.table import Step
from dify_on_aws.diagram.text import as_list, fmt, plural
from dify_on_aws.templates import Key, number

if TYPE_CHECKING:
    from dify_on_aws.diagram.deriver import Deriver


def data_stores(d: Deriver) -> None:
    _db_clusters(d)
    _db_instances(d)
    _caches(d)


def _db_clusters(d: Deriver) -> None:
    t = d.t
    for key in t.keys_of("AWS::RDS::DBCluster"):
        p = t.props(key)
        engine = str(p.get("Engine", "aurora"))
        title = {"aurora-postgresql": "Aurora PostgreSQL", "aurora-mysql": "Aurora MySQL"}.get(engine, engine)
        details = [str(p.get("EngineVersion", ""))]
        scaling = p.get("ServerlessV2ScalingConfiguration", {})
        low, high = number(scaling.get("MinCapacity")), number(scaling.get("MaxCapacity"))
        if low is not None and high is not None:
            details[0] = " · ".join(filter(None, [details[0], "Serverless v2"]))
            idle = " (pauses when idle)" if low == 0 else ""
            details.append(f"{fmt(low)}\N{EN DASH}{fmt(high)} ACU{idle}")
        instances = t.referencing("AWS::RDS::DBInstance", "DBClusterIdentifier", key)
        if instances:
            readers = len(instances) - 1
            details.append("writer" + (f" + {plural(readers, 'reader')}" if readers else ""))
        if "pgvector" in d.container_env.get("VECTOR_STORE", set()):
            details.append("+ pgvector (vector store)")
        cluster = d.subnet_group_placement(key, p.get("DBSubnetGroupName"))
        node = d.add(
            graph.Node("database", graph.DATABASE, title, tuple(x for x in details if x), cluster),
            key,
            *instances,
        )
        d.own_security_groups(node.id, key[0], p.get("VpcSecurityGroupIds"))


def _db_instances(d: Deriver) -> None:
    t = d.t
    for key in t.keys_of("AWS::RDS::DBInstance"):
        p = t.props(key)
        if key in d.node_of or p.get("DBClusterIdentifier"):
            continue
        details = (str(p.get("EngineVersion", "")), str(p.get("DBInstanceClass", "")))
        title = f"RDS {p.get('Engine', '')}".strip()
        cluster = d.subnet_group_placement(key, p.get("DBSubnetGroupName"))
        node = d.add(
            graph.Node("database", graph.DATABASE, title, tuple(x for x in details if x), cluster), key
        )
        d.own_security_groups(node.id, key[0], p.get("VPCSecurityGroups"))


def _caches(d: Deriver) -> None:
    t = d.t
    for key in t.keys_of("AWS::ElastiCache::ReplicationGroup", "AWS::ElastiCache::ServerlessCache"):
        p = t.props(key)
        engine = str(p.get("Engine", "redis"))
        version = str(p.get("EngineVersion", p.get("MajorEngineVersion", "")))
        details = []
        if t.type(key) == "AWS::ElastiCache::ServerlessCache":
            details.append(f"{version} · serverless".strip(" ·"))
            cluster = d.placement(key[0], p.get("SubnetIds"))
        else:
            nodes = int(number(p.get("NumCacheClusters")) or 0)
            if not nodes:
                shards = int(number(p.get("NumNodeGroups")) or 1)
                nodes = shards * (1 + int(number(p.get("ReplicasPerNodeGroup")) or 0))
            node_type = p.get("CacheNodeType", "")
            details.append(f"{version} · {node_type} \N{MULTIPLICATION SIGN} {nodes}".strip(" ·"))
            if p.get("MultiAZEnabled") is True or p.get("AutomaticFailoverEnabled") is True:
                details.append("multi-AZ failover")
            cluster = d.subnet_group_placement(key, p.get("CacheSubnetGroupName"))
        if p.get("TransitEncryptionEnabled") is True:
            details.append("TLS in transit")
        title = f"ElastiCache {engine.title() if engine.islower() else engine}"
        node = d.add(graph.Node("cache", graph.CACHE, title, tuple(details), cluster), key)
        d.own_security_groups(node.id, key[0], p.get("SecurityGroupIds"))


def buckets(d: Deriver) -> None:
    t = d.t
    log_buckets: dict[Key, list[Key]] = defaultdict(list)  # log bucket -> buckets logging into it
    for key in t.keys_of("AWS::S3::Bucket"):
        target = t.props(key).get("LoggingConfiguration", {}).get("DestinationBucketName")
        for log in t.refs(key[0], target):
            log_buckets[log].append(key)
    for dist in t.keys_of("AWS::CloudFront::Distribution"):
        logging = t.props(dist).get("DistributionConfig", {}).get("Logging", {})
        for log in t.refs(dist[0], logging.get("Bucket")):
            log_buckets.setdefault(log, [])
    env_buckets = _bucket_env_refs(d)
    for key in t.keys_of("AWS::S3::Bucket"):
        if key in log_buckets:
            continue
        p = t.props(key)
        details = []
        if p.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            details.append("versioned")
        if p.get("BucketEncryption"):
            details.append("encrypted")
        files = key in env_buckets
        node_id, title = ("s3_files", "S3 files bucket") if files else ("s3_bucket", "S3 bucket")
        d.add(graph.Node(node_id, graph.BUCKET, title, (" · ".join(details),), d.cluster_for(key)), key)
    for log in sorted(log_buckets):
        node = d.add(graph.Node("s3_logs", graph.LOG_BUCKET, "S3 access logs", (), d.cluster_for(log)), log)
        for source in log_buckets[log]:
            if source in d.node_of:
                d.link(d.node_of[source], node.id, dashed=True)


def _bucket_env_refs(d: Deriver) -> set[Key]:
    """Buckets named by a *BUCKET* environment variable of a container or function."""
    t = d.t
    out: set[Key] = set()
    for task in t.keys_of("AWS::ECS::TaskDefinition"):
        for container in as_list(t.props(task).get("ContainerDefinitions")):
            for var in as_list(container.get("Environment")):
                if isinstance(var, dict) and "BUCKET" in str(var.get("Name")):
                    out.update(t.refs(task[0], var.get("Value")))
    for fn in t.keys_of("AWS::Lambda::Function"):
        variables = t.props(fn).get("Environment", {}).get("Variables", {})
        if isinstance(variables, dict):
            for name, value in variables.items():
                if "BUCKET" in name:
                    out.update(t.refs(fn[0], value))
    return out


STEPS = (
    Step(
        70,
        data_stores,
        (
            "AWS::RDS::DBCluster",
            "AWS::RDS::DBInstance",
            "AWS::ElastiCache::ReplicationGroup",
            "AWS::ElastiCache::ServerlessCache",
        ),
    ),
    Step(80, buckets, ("AWS::S3::Bucket",)),
)
