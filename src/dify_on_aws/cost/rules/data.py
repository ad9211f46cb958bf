"""Pricing rules for data: ElastiCache, RDS and Aurora, Secrets Manager, KMS, SSM parameters, CodeArtifact
and AWS Backup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dify_on_aws.cost.rules.capacity import connected_share
from dify_on_aws.cost.rules.common import Rule, count, key_part
from dify_on_aws.templates import Resource, number

if TYPE_CHECKING:
    from dify_on_aws.cost.pricer import Pricer

# An Aurora Serverless v2 instance with MinCapacity 0 pauses when idle; awake, it runs at least this.
AURORA_AWAKE_MIN_ACU = 0.5


def _engine_key(engine: str) -> str:
    return {"redis": "redis_oss", "valkey": "valkey", "memcached": "memcached"}.get(
        engine.lower(), key_part(engine)
    )


def _replication_group(p: Pricer, res: Resource) -> None:
    if res.props.get("PrimaryClusterId"):
        p.free(res, "nodes are priced on the cache cluster it is built from")
        return
    note = ""
    groups = res.num("NumNodeGroups")
    node_groups = res.props.get("NodeGroupConfiguration")
    replicas = res.num("ReplicasPerNodeGroup") or 0.0
    if groups is not None:
        nodes = groups * (replicas + 1)
    elif isinstance(node_groups, list) and node_groups:
        nodes = sum(1 + (number(res.value(g.get("ReplicaCount"))) or replicas) for g in node_groups)
    elif res.num("NumCacheClusters") is not None:
        nodes = res.num("NumCacheClusters") or 0.0
    else:
        nodes, note = 1.0, "node count not set: 1 assumed"
    _cache_nodes(p, res, nodes, note)


def _cache_cluster(p: Pricer, res: Resource) -> None:
    _cache_nodes(p, res, res.num("NumCacheNodes") or 1.0)


def _cache_nodes(p: Pricer, res: Resource, nodes: float, note: str = "") -> None:
    """Node-hours of a cache cluster or replication group (CacheNodeType and Engine name the price)."""
    engine = _engine_key(res.text("Engine", "redis"))
    node = res.text("CacheNodeType", "unknown")
    p.add(
        res,
        f"ElastiCache {engine} {node} nodes",
        f"elasticache.{engine}.{key_part(node)}.hour",
        nodes * p.hours,
        "node-h",
        usage=False,
        note="; ".join(n for n in (f"{nodes:g} node(s)", note) if n),
    )


def _serverless_cache(p: Pricer, res: Resource) -> None:
    engine = _engine_key(res.text("Engine", "valkey"))
    minimum = p.price(f"elasticache_serverless.{engine}.min_gb", res.region).price or 0.0
    stored = max(p.usage.cache_gb, minimum)
    p.add(
        res,
        f"ElastiCache Serverless {engine} data stored",
        f"elasticache_serverless.{engine}.gb_hour",
        stored * p.hours,
        "GB-h",
        usage=True,
        note=f"{stored:g} GB (usage cache_gb, at least the metered minimum)",
    )
    p.add(
        res,
        f"ElastiCache Serverless {engine} ECPUs",
        f"elasticache_serverless.{engine}.per_million_ecpu",
        p.usage.requests * p.usage.cache_ecpu_per_request / 1e6,
        "1M ECPU",
        usage=True,
    )


def _db_cluster(p: Pricer, res: Resource) -> None:
    engine = res.text("Engine", "aurora-postgresql")
    if not engine.startswith("aurora"):
        p.add(
            res,
            f"RDS Multi-AZ DB cluster ({engine})",
            f"rds_cluster.{key_part(engine)}",
            1,
            "cluster",
            usage=False,
        )
        return
    if res.text("EngineMode") == "serverless":
        p.add(res, "Aurora Serverless v1 cluster", "aurora_sv1.cluster", 1, "cluster", usage=False)
        return
    tier = "io_optimized" if res.text("StorageType") == "aurora-iopt1" else "standard"
    p.add(
        res,
        f"Aurora storage ({tier.replace('_', '-')})",
        f"aurora.storage_gb_month_{tier}",
        p.usage.db_storage_gb,
        "GB-month",
        usage=True,
        note="billed while paused too; backups up to the database size are free",
    )
    if tier == "standard":
        p.add(
            res, "Aurora I/O requests", "aurora.io_per_million", p.usage.db_io_millions, "1M I/O", usage=True
        )


def _db_instance(p: Pricer, res: Resource) -> None:
    cluster = p.get(res, res.props.get("DBClusterIdentifier"))
    cls = res.text("DBInstanceClass", "unknown")
    if cluster is not None:
        engine = cluster.text("Engine", "aurora-postgresql")
        family = "aurora_pg" if "postgres" in engine else "aurora_mysql"
        tier = "io_optimized" if cluster.text("StorageType") == "aurora-iopt1" else "standard"
        if cls != "db.serverless":
            p.add(res, f"Aurora {cls} instance", f"{family}.{key_part(cls)}.hour", p.hours, "h", usage=False)
            return
        scaling = cluster.props.get("ServerlessV2ScalingConfiguration") or {}
        low = number(cluster.value(scaling.get("MinCapacity")))
        high = number(cluster.value(scaling.get("MaxCapacity")))
        key = f"{family}_sv2.acu_hour_{tier}"
        upto = f"; scaling up to {high:g} ACU costs more" if high is not None else ""
        if low == 0:
            # Aurora pauses only after a period with no user connections (AWS: "Scaling to Zero ACUs with
            # automatic pause and resume"); running Dify services are always connected, so it is awake
            # while any of them runs and pauses only outside their schedule.
            connected = connected_share(p)
            awake = max(p.usage.active_share, connected)
            why = (
                f"awake while Dify's services run ({connected:.0%} of hours)"
                if connected >= p.usage.active_share
                else f"awake for the active {p.usage.active_share:.0%} of hours"
            )
            p.add(
                res,
                "Aurora Serverless v2 capacity (auto-pause)",
                key,
                AURORA_AWAKE_MIN_ACU * p.hours * awake,
                "ACU-h",
                usage=connected < p.usage.active_share,
                note=f"MinCapacity 0 pauses only without connections: {AURORA_AWAKE_MIN_ACU:g} ACU, "
                f"{why}{upto}",
            )
            return
        if low is None:
            low, upto = AURORA_AWAKE_MIN_ACU, "; MinCapacity unresolved: 0.5 assumed" + upto
        p.add(
            res,
            "Aurora Serverless v2 minimum capacity",
            key,
            low * p.hours,
            "ACU-h",
            usage=False,
            note=f"{low:g} ACU x {p.hours:g} h{upto}",
        )
        return
    engine = res.text("Engine", "postgres")
    family = {"postgres": "rds_pg", "mysql": "rds_mysql"}.get(engine, f"rds_{key_part(engine)}")
    copies = 2 if res.value(res.props.get("MultiAZ")) in (True, "true") else 1
    note = "Multi-AZ: x2" if copies == 2 else ""
    p.add(
        res,
        f"RDS {engine} {cls}",
        f"{family}.{key_part(cls)}.hour",
        copies * p.hours,
        "h",
        usage=False,
        note=note,
    )
    size = res.num("AllocatedStorage")
    if size:
        kind = res.text("StorageType", "gp2")
        p.add(
            res,
            f"RDS {kind} storage",
            f"rds.{key_part(kind)}_storage_gb_month",
            copies * size,
            "GB-month",
            usage=False,
            note=note,
        )


def _secret(p: Pricer, res: Resource) -> None:
    replicas = count(res.props.get("ReplicaRegions")) or 0
    p.add(
        res,
        "Secrets Manager secret",
        "secrets_manager.secret.month",
        1 + replicas,
        "secret-month",
        usage=False,
        note=f"+{replicas} replica(s)" if replicas else "",
    )


def _kms_key(p: Pricer, res: Resource) -> None:
    p.add(res, "KMS customer managed key", "kms.key.month", 1, "key-month", usage=False)


def _ssm_parameter(p: Pricer, res: Resource) -> None:
    if res.text("Tier", "Standard") == "Advanced":
        p.add(
            res,
            "SSM advanced parameter",
            "ssm_parameter_store.advanced.month",
            1,
            "parameter-month",
            usage=False,
        )
    else:
        p.free(res, "standard parameter: no charge")


def _backup_plan(p: Pricer, res: Resource) -> None:
    p.add(
        res,
        "AWS Backup storage",
        "backup.storage.gb_month",
        p.usage.db_storage_gb,
        "GB-month",
        usage=True,
        note="assumes one full copy of the database storage",
    )


def _codeartifact_domain(p: Pricer, res: Resource) -> None:
    """CodeArtifact bills stored packages and requests, per domain (assets are stored once per domain)."""
    p.add(
        res,
        "CodeArtifact package storage",
        "codeartifact.storage.gb_month",
        p.usage.package_gb,
        "GB-month",
        usage=True,
        note="packages cached from PyPI",
    )
    p.add(
        res,
        "CodeArtifact requests",
        "codeartifact.requests.per_10k",
        p.usage.package_requests / 10_000,
        "10k requests",
        usage=True,
        note=f"{p.usage.package_requests:g} requests (index pages and files)",
    )


RULES: dict[str, Rule] = {
    "AWS::CodeArtifact::Domain": _codeartifact_domain,
    "AWS::ElastiCache::ReplicationGroup": _replication_group,
    "AWS::ElastiCache::CacheCluster": _cache_cluster,
    "AWS::ElastiCache::ServerlessCache": _serverless_cache,
    "AWS::RDS::DBCluster": _db_cluster,
    "AWS::RDS::DBInstance": _db_instance,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::ReplicaKey": _kms_key,
    "AWS::SSM::Parameter": _ssm_parameter,
    "AWS::Backup::BackupPlan": _backup_plan,
}
