"""Serving the fraud model with Seldon Core 1.19.

seldon_model   FraudModel, the class Seldon's wrapper serves (both targets)
microservice   seldon-core-microservice bound to loopback (local target)
front          the stable local address that survives redeploys
local          the local target: deploy, status, stop
kubernetes     the Kubernetes target: SeldonDeployment render, validate, apply
deployer       ModelDeployer: one Dagster resource per target (LocalDeployer, KubernetesDeployer)
"""
