#!/usr/bin/env python3
"""Runs the pods of rendered Kubernetes manifests (the Helm chart through deploy/helm-render) as
Docker containers, for hosts with a Docker engine and no Kubernetes cluster.

It is a stand-in for the kubelet and cluster DNS, not Kubernetes: it does what the chart's pods
rely on at run time, so that their command lines, environment, Secret and ConfigMap files,
volumes, security contexts, DNS names and probes are exercised for real:

  StatefulSet / Deployment  replicas pods, named as Kubernetes names them (<sts>-<ordinal>,
                            <deploy>-<template hash>-<5 chars>), hostname = pod name,
                            restart policy Always (Docker's restart, with its backoff)
  Service                   cluster DNS as Docker network aliases: <svc>, <svc>.<ns>,
                            <svc>.<ns>.svc[.<domain>] on every pod its selector matches, and
                            <pod>.<headless svc>.<ns>.svc[.<domain>] for a StatefulSet's pods
  ConfigMap / Secret        env, envFrom, and volumes (files written, mounted read-only)
  volumeClaimTemplates      one named Docker volume per claim and pod, kept across restarts
  securityContext           runAsUser/Group, fsGroup (group-owned volumes), no-new-privileges,
                            capabilities, readOnlyRootFilesystem
  probes                    startup, liveness (failures restart the container), readiness;
                            httpGet (HTTP/HTTPS, certificates not checked, as the kubelet),
                            tcpSocket, exec
  $(VAR)                    expanded in command, args and env values, as Kubernetes does

What differs from a cluster, on purpose: a Service name resolves to every matching pod, ready or
not (no ClusterIP, no kube-proxy; DNS round robin instead); resource requests, affinity, PDBs and
the pods' service accounts are ignored; a Deployment's pod keeps its name across restarts.

Usage:
  kubelet-standin.py up MANIFESTS.yaml [--namespace NS] [--cluster-domain D] [--network NET]
                     [--ready-timeout S] [--objects SECRETS.yaml] [--logs DIR] [--purge]
      Starts every pod, prints one JSON line when all are ready ({"event": "ready", ...}), keeps
      probing; on SIGTERM or SIGINT stops them all at once (each with its
      terminationGracePeriodSeconds), prints {"event": "stopped", ...} with each container's exit
      code and seconds to stop, saves their output (--logs), removes the containers (and, with --purge, the volumes: without it, the claims'
      volumes are there for the next `up`, as PersistentVolumeClaims outlive their pods).
  kubelet-standin.py down [--network NET] [--purge]
      Removes what an earlier `up` left (containers labelled by it).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import yaml

LABEL = "tessera.kubelet-standin"


class ManifestError(Exception):
    """A manifest this stand-in cannot run faithfully; names the object and the field."""


def log(msg: str) -> None:
    print(f"kubelet-standin: {msg}", file=sys.stderr, flush=True)


def docker(*args: str, check: bool = True, capture: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=capture, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}…: {proc.stderr.strip()}")
    return proc.stdout.strip() if capture else ""


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, the rest stays."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, text)


class Cluster:
    def __init__(self, docs: list[dict], namespace: str, domain: str, network: str) -> None:
        self.namespace = namespace
        self.domain = domain
        self.network = network
        self.config_maps: dict[str, dict[str, str]] = {}
        self.secrets: dict[str, dict[str, str]] = {}
        self.services: list[dict] = []
        self.workloads: list[dict] = []
        self.ignored: list[str] = []
        self.add_objects([d for d in docs if d.get("kind") in ("ConfigMap", "Secret")])
        for doc in docs:
            kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
            if kind in ("ConfigMap", "Secret"):
                continue
            if kind == "Service":
                self.services.append(doc)
            elif kind in ("StatefulSet", "Deployment"):
                self.workloads.append(doc)
            else:
                self.ignored.append(f"{kind}/{name}")
        self.state = tempfile.mkdtemp(prefix="kubelet-standin-")
        self.pods: list[Pod] = []

    def add_objects(self, docs: list[dict]) -> None:
        """Secrets and ConfigMaps: the release's, and those made beside it (kubectl create …)."""
        for doc in docs:
            name = doc["metadata"]["name"]
            if doc["kind"] == "Secret":
                data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
                data.update({k: str(v) for k, v in (doc.get("stringData") or {}).items()})
                self.secrets[name] = data
            elif doc["kind"] == "ConfigMap":
                self.config_maps[name] = {k: str(v) for k, v in (doc.get("data") or {}).items()}

    def dns_names(self, service: str) -> list[str]:
        ns, d = self.namespace, self.domain
        return [service, f"{service}.{ns}", f"{service}.{ns}.svc", f"{service}.{ns}.svc.{d}"]

    def plan(self) -> None:
        for w in self.workloads:
            kind, name = w["kind"], w["metadata"]["name"]
            spec = w["spec"]
            template = spec["template"]
            labels = template["metadata"].get("labels", {})
            replicas = int(spec.get("replicas", 1))
            if kind == "StatefulSet":
                names = [f"{name}-{i}" for i in range(replicas)]
            else:
                digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
                alphabet = "bcdfghjklmnpqrstvwxz2456789"
                names = [
                    f"{name}-{digest[:10]}-{''.join(random.choice(alphabet) for _ in range(5))}"
                    for _ in range(replicas)
                ]
            for pod_name in names:
                self.pods.append(Pod(self, w, pod_name, labels))

    def services_of(self, labels: dict[str, str]) -> list[dict]:
        out = []
        for svc in self.services:
            sel = svc["spec"].get("selector") or {}
            if sel and all(labels.get(k) == v for k, v in sel.items()):
                out.append(svc)
        return out


class Pod:
    def __init__(self, cluster: Cluster, workload: dict, name: str, labels: dict[str, str]) -> None:
        self.cluster = cluster
        self.workload = workload
        self.name = name
        self.labels = labels
        spec = workload["spec"]["template"]["spec"]
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        if spec.get("initContainers"):
            raise ManifestError(f"{where}: spec.initContainers: not supported by the stand-in")
        if len(spec["containers"]) != 1:
            raise ManifestError(f"{where}: spec.containers: exactly one container is supported")
        self.spec = spec
        self.container = spec["containers"][0]
        self.where = where
        self.grace = int(spec.get("terminationGracePeriodSeconds", 30))
        fs_group = (spec.get("securityContext") or {}).get("fsGroup")
        self.fs_group = int(fs_group) if fs_group is not None else None
        self.ready = False
        self.started = False
        self.restarts_by_liveness = 0
        self.stop_probing = threading.Event()
        self._ip = ""

    # ---- environment -------------------------------------------------------------------------
    def _field(self, path: str) -> str:
        fields = {
            "metadata.name": self.name,
            "metadata.namespace": self.cluster.namespace,
            "spec.nodeName": "kubelet-standin",
        }
        if path not in fields:
            raise ManifestError(f"{self.where}: env fieldRef.fieldPath {path!r}: not supported")
        return fields[path]

    def _ref(self, kind: str, ref: dict) -> str | None:
        store = self.cluster.secrets if kind == "secret" else self.cluster.config_maps
        obj = store.get(ref["name"])
        if obj is None or ref["key"] not in obj:
            if ref.get("optional"):
                return None
            raise ManifestError(f"{self.where}: {kind} {ref['name']!r} key {ref['key']!r} does not exist")
        return obj[ref["key"]]

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for src in self.container.get("envFrom") or []:
            if "configMapRef" in src:
                ref, store, kind = src["configMapRef"], self.cluster.config_maps, "configMap"
            else:
                ref, store, kind = src["secretRef"], self.cluster.secrets, "secret"
            if ref["name"] not in store:
                if ref.get("optional"):
                    continue
                raise ManifestError(f"{self.where}: envFrom {kind} {ref['name']!r} does not exist")
            env.update({src.get("prefix", "") + k: v for k, v in store[ref["name"]].items()})
        for var in self.container.get("env") or []:
            if "value" in var:
                env[var["name"]] = expand(str(var["value"]), env)
                continue
            vf = var.get("valueFrom") or {}
            if "fieldRef" in vf:
                env[var["name"]] = self._field(vf["fieldRef"]["fieldPath"])
            elif "secretKeyRef" in vf or "configMapKeyRef" in vf:
                kind = "secret" if "secretKeyRef" in vf else "configMap"
                value = self._ref(kind, vf.get("secretKeyRef") or vf["configMapKeyRef"])
                if value is not None:
                    env[var["name"]] = value
            elif vf:
                raise ManifestError(f"{self.where}: env {var['name']}: valueFrom {list(vf)} not supported")
            else:
                env[var["name"]] = ""
        return env

    # ---- volumes -----------------------------------------------------------------------------
    def claim_volume(self, claim: str) -> str:
        return f"standin-{self.cluster.namespace}-{claim}-{self.name}"

    def _files(self, vol: dict, source: dict[str, str], items: list[dict] | None, mode: int) -> str:
        path = os.path.join(self.cluster.state, self.name, vol["name"])
        os.makedirs(path, exist_ok=True)
        chosen = items or [{"key": k, "path": k} for k in source]
        for item in chosen:
            if item["key"] not in source:
                raise ManifestError(f"{self.where}: volume {vol['name']}: key {item['key']!r} missing")
            target = os.path.join(path, item["path"])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                f.write(source[item["key"]])
            os.chmod(target, int(item.get("mode", mode)))
            if self.fs_group is not None:
                os.chown(target, 0, self.fs_group)  # as the kubelet does for fsGroup
        os.chmod(path, 0o755)
        return path

    def mounts(self) -> tuple[list[str], list[str]]:
        """docker run flags for the container's volumeMounts, and the volumes needing fsGroup."""
        claims = {c["metadata"]["name"] for c in self.workload["spec"].get("volumeClaimTemplates") or []}
        volumes = {v["name"]: v for v in self.spec.get("volumes") or []}
        flags: list[str] = []
        writable: list[str] = []
        for m in self.container.get("volumeMounts") or []:
            name, target = m["name"], m["mountPath"]
            ro = ",readonly" if m.get("readOnly") else ""
            if name in claims:
                src = self.claim_volume(name)
                flags += ["--mount", f"type=volume,source={src},target={target}{ro}"]
                writable.append(src)
                continue
            vol = volumes.get(name)
            if vol is None:
                raise ManifestError(f"{self.where}: volumeMounts {name!r}: no such volume or claim")
            if "secret" in vol or "configMap" in vol:
                kind = "secret" if "secret" in vol else "configMap"
                ref = vol[kind]
                obj = ref["secretName"] if kind == "secret" else ref["name"]
                data = (self.cluster.secrets if kind == "secret" else self.cluster.config_maps).get(obj)
                if data is None:
                    raise ManifestError(f"{self.where}: volume {name}: {kind} {obj!r} does not exist")
                src = self._files(vol, data, ref.get("items"), int(ref.get("defaultMode", 0o644)))
                flags += ["--mount", f"type=bind,source={src},target={target},readonly"]
            elif "emptyDir" in vol:
                if (vol["emptyDir"] or {}).get("medium") == "Memory":
                    flags += ["--tmpfs", target]
                else:
                    src = f"standin-{self.cluster.namespace}-empty-{name}-{self.name}"
                    flags += ["--mount", f"type=volume,source={src},target={target}"]
                    writable.append(src)
            else:
                raise ManifestError(f"{self.where}: volume {name}: only secret, configMap, emptyDir and claims")
        return flags, writable

    # ---- start -------------------------------------------------------------------------------
    def aliases(self) -> list[str]:
        out: list[str] = []
        sts_service = self.workload["spec"].get("serviceName") if self.workload["kind"] == "StatefulSet" else None
        for svc in self.cluster.services_of(self.labels):
            svc_name = svc["metadata"]["name"]
            self._check_ports(svc)
            if svc["spec"].get("clusterIP") == "None":
                if svc_name == sts_service:
                    out += [f"{self.name}.{n}" for n in self.cluster.dns_names(svc_name)]
                out += self.cluster.dns_names(svc_name)
            else:
                out += self.cluster.dns_names(svc_name)
        return out

    def container_port(self, port: int | str) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in self.container.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise ManifestError(f"{self.where}: port {port!r} is not a named container port")

    def _check_ports(self, svc: dict) -> None:
        for p in svc["spec"].get("ports") or []:
            target = self.container_port(p.get("targetPort", p["port"]))
            if target != int(p["port"]):
                raise ManifestError(
                    f"Service/{svc['metadata']['name']}: port {p['port']} → container port {target}: "
                    "the stand-in's DNS aliases cannot remap ports"
                )

    def run_flags(self) -> list[str]:
        c = self.container
        psc = self.spec.get("securityContext") or {}
        csc = c.get("securityContext") or {}
        flags = ["--detach", "--name", self.name, "--hostname", self.name, "--network", self.cluster.network]
        flags += ["--label", f"{LABEL}=1", "--label", f"io.kubernetes.pod.name={self.name}"]
        flags += ["--label", f"io.kubernetes.pod.namespace={self.cluster.namespace}"]
        for k, v in self.labels.items():
            flags += ["--label", f"{k}={v}"]
        for a in self.aliases():
            flags += ["--network-alias", a]
        flags += ["--restart", "always", "--stop-timeout", str(self.grace)]
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        gid = csc.get("runAsGroup", psc.get("runAsGroup"))
        if (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")) and uid in (None, 0):
            raise ManifestError(f"{self.where}: runAsNonRoot without a non-zero runAsUser")
        if uid is not None:
            flags += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
        if psc.get("fsGroup") is not None:
            flags += ["--group-add", str(psc["fsGroup"])]
        for g in psc.get("supplementalGroups") or []:
            flags += ["--group-add", str(g)]
        if csc.get("allowPrivilegeEscalation") is False:
            flags += ["--security-opt", "no-new-privileges"]
        caps = csc.get("capabilities") or {}
        for cap in caps.get("drop") or []:
            flags += ["--cap-drop", cap]
        for cap in caps.get("add") or []:
            flags += ["--cap-add", cap]
        if csc.get("readOnlyRootFilesystem"):
            flags.append("--read-only")
        if csc.get("privileged"):
            raise ManifestError(f"{self.where}: privileged containers are not run by the stand-in")
        limits = (c.get("resources") or {}).get("limits") or {}
        if "memory" in limits:
            flags += ["--memory", str(limits["memory"]).replace("Gi", "g").replace("Mi", "m")]
        if "cpu" in limits:
            cpu = str(limits["cpu"])
            flags += ["--cpus", str(int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu))]
        return flags

    def start(self) -> None:
        env = self.environment()
        mount_flags, writable = self.mounts()
        image = self.container["image"]
        for vol in writable:
            if self.fs_group is None:
                continue
            # fsGroup: Kubernetes makes the volume group-owned and group-writable (setgid).
            docker(
                "run", "--rm", "--user", "0", "--entrypoint", "/bin/sh", "--mount",
                f"type=volume,source={vol},target=/v", image, "-c",
                f"chgrp {self.fs_group} /v && chmod 2775 /v",
            )
        flags = self.run_flags() + mount_flags
        for k, v in env.items():
            flags += ["--env", f"{k}={v}"]
        command = [expand(str(x), env) for x in self.container.get("command") or []]
        args = [expand(str(x), env) for x in self.container.get("args") or []]
        if command:
            flags += ["--entrypoint", command[0]]
            docker("run", *flags, image, *command[1:], *args)
        else:
            docker("run", *flags, image, *args)
        log(f"pod {self.name} started ({self.where})")

    # ---- probes ------------------------------------------------------------------------------
    def ip(self, cached: bool = False) -> str:
        if cached and self._ip:
            return self._ip
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        self._ip = docker("inspect", "--format", fmt, self.name, check=False)
        return self._ip

    def probe_once(self, probe: dict) -> bool:
        ok = self._probe(probe)
        if not ok:
            self._ip = ""  # a restarted container may have a new address
        return ok

    def _probe(self, probe: dict) -> bool:
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            h = probe["httpGet"]
            scheme = str(h.get("scheme", "HTTP")).lower()
            url = f"{scheme}://{self.ip(cached=True)}:{self.container_port(h['port'])}{h.get('path', '/')}"
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # the kubelet does not verify probe certificates
            try:
                with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
                    return 200 <= r.status < 400
            except (urllib.error.URLError, OSError, ValueError):
                return False
        if "tcpSocket" in probe:
            try:
                port = self.container_port(probe["tcpSocket"]["port"])
                with socket.create_connection((self.ip(cached=True), port), timeout=timeout):
                    return True
            except OSError:
                return False
        if "exec" in probe:
            cmd = probe["exec"]["command"]
            try:
                rc = subprocess.run(["docker", "exec", self.name, *cmd], capture_output=True, timeout=timeout + 5)
                return rc.returncode == 0
            except subprocess.TimeoutExpired:
                return False
        raise ManifestError(f"{self.where}: probe {list(probe)}: not supported")

    def probe_loop(self) -> None:
        c = self.container
        startup, liveness, readiness = c.get("startupProbe"), c.get("livenessProbe"), c.get("readinessProbe")
        while not self.stop_probing.is_set():
            self.started = startup is None
            if startup:
                self.started = self._until(startup, want=True)
                if not self.started:
                    if self.stop_probing.is_set():
                        return
                    self._restart("startup probe failed")
                    continue
            # Liveness and readiness run side by side from here; liveness failures restart.
            fails = {"live": 0, "ready": 0}
            next_at = {"live": time.time() + float((liveness or {}).get("initialDelaySeconds", 0)),
                       "ready": time.time() + float((readiness or {}).get("initialDelaySeconds", 0))}
            if readiness is None:
                self.ready = True
            restart = False
            while not self.stop_probing.is_set() and not restart:
                now = time.time()
                if readiness and now >= next_at["ready"]:
                    ok = self.probe_once(readiness)
                    fails["ready"] = 0 if ok else fails["ready"] + 1
                    if ok:
                        self.ready = True
                    elif fails["ready"] >= int(readiness.get("failureThreshold", 3)):
                        self.ready = False
                    next_at["ready"] = now + float(readiness.get("periodSeconds", 10))
                if liveness and now >= next_at["live"]:
                    ok = self.probe_once(liveness)
                    fails["live"] = 0 if ok else fails["live"] + 1
                    if fails["live"] >= int(liveness.get("failureThreshold", 3)):
                        restart = True
                    next_at["live"] = now + float(liveness.get("periodSeconds", 10))
                self.stop_probing.wait(0.5)
            if restart and not self.stop_probing.is_set():
                self._restart("liveness probe failed")

    def _until(self, probe: dict, want: bool) -> bool:
        self.stop_probing.wait(float(probe.get("initialDelaySeconds", 0)))
        failures = 0
        while not self.stop_probing.is_set():
            if self.probe_once(probe) == want:
                return True
            failures += 1
            if failures >= int(probe.get("failureThreshold", 3)):
                return False
            self.stop_probing.wait(float(probe.get("periodSeconds", 10)))
        return False

    def _restart(self, why: str) -> None:
        self.ready = False
        self.restarts_by_liveness += 1
        log(f"pod {self.name}: {why}: restarting its container")
        docker("restart", "--time", str(self.grace), self.name, check=False)

    def status(self) -> dict:
        fmt = "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}"
        out = docker("inspect", "--format", fmt, self.name, check=False).split()
        return {
            "pod": self.name,
            "workload": self.where,
            "ip": self.ip(),
            "state": out[0] if out else "missing",
            "pid": int(out[1]) if len(out) > 1 else None,
            "restarts": int(out[2]) if len(out) > 2 else None,
            "livenessRestarts": self.restarts_by_liveness,
            "ready": self.ready,
        }


def load(path: str) -> list[dict]:
    with open(path) as f:
        text = f.read()
    # helm-render puts NOTES.txt's text (not YAML) before the first template's output.
    start = text.find("# Source:")
    docs = yaml.safe_load_all(text[start:] if start >= 0 else text)
    return [d for d in docs if isinstance(d, dict) and d.get("kind")]


def save_logs(pods: list[Pod], directory: str) -> None:
    """Each container's output, kept before the containers are removed (kubectl logs)."""
    os.makedirs(directory, exist_ok=True)
    for pod in pods:
        with open(os.path.join(directory, f"{pod.name}.log"), "w") as f:
            subprocess.run(["docker", "logs", pod.name], stdout=f, stderr=subprocess.STDOUT)


def remove_all(network: str, purge: bool) -> None:
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}=1").split()
    if ids:
        docker("rm", "-f", *ids, check=False)
    if purge:
        vols = [v for v in docker("volume", "ls", "-q").split() if v.startswith("standin-")]
        if vols:
            docker("volume", "rm", "-f", *vols, check=False)
    docker("network", "rm", network, check=False)


def up(opts: argparse.Namespace) -> int:
    cluster = Cluster(load(opts.manifests), opts.namespace, opts.cluster_domain, opts.network)
    for extra in opts.objects or []:
        cluster.add_objects(load(extra))
    cluster.plan()
    if docker("network", "ls", "-q", "--filter", f"name=^{opts.network}$") == "":
        docker("network", "create", opts.network)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    t0 = time.time()
    threads = []
    try:
        for pod in cluster.pods:
            pod.start()
        for pod in cluster.pods:
            t = threading.Thread(target=pod.probe_loop, daemon=True)
            t.start()
            threads.append(t)
        while not stopping.is_set() and not all(p.ready for p in cluster.pods):
            if time.time() - t0 > opts.ready_timeout:
                waiting = [p.name for p in cluster.pods if not p.ready]
                print(json.dumps({"event": "not-ready", "seconds": round(time.time() - t0, 1),
                                  "waiting": waiting, "pods": [p.status() for p in cluster.pods]}), flush=True)
                return 1
            time.sleep(0.5)
        if not stopping.is_set():
            print(json.dumps({"event": "ready", "seconds": round(time.time() - t0, 1),
                              "ignored": cluster.ignored, "pods": [p.status() for p in cluster.pods]}),
                  flush=True)
        stopping.wait()
        # `helm uninstall`: every pod gets SIGTERM at once and its grace period.
        for pod in cluster.pods:
            pod.stop_probing.set()
        stop_seconds: dict[str, float] = {}
        t1 = time.time()

        def stop(pod: Pod) -> None:
            docker("stop", "--time", str(pod.grace), pod.name, check=False)
            stop_seconds[pod.name] = round(time.time() - t1, 1)

        stoppers = [threading.Thread(target=stop, args=(p,)) for p in cluster.pods]
        for s in stoppers:
            s.start()
        for s in stoppers:
            s.join()
        fmt = "{{.State.ExitCode}}"
        exits = {p.name: int(docker("inspect", "--format", fmt, p.name, check=False) or -1) for p in cluster.pods}
        print(json.dumps({"event": "stopped", "seconds": round(time.time() - t1, 1), "exitCodes": exits,
                          "stopSeconds": stop_seconds}), flush=True)
        if opts.logs:
            save_logs(cluster.pods, opts.logs)
        return 0
    except ManifestError as e:
        print(json.dumps({"event": "error", "error": str(e)}), flush=True)
        return 2
    finally:
        for pod in cluster.pods:
            pod.stop_probing.set()
        remove_all(opts.network, opts.purge)
        shutil.rmtree(cluster.state, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("manifests")
    p_up.add_argument("--objects", action="append", help="more Secrets/ConfigMaps (YAML), e.g. TLS")
    p_up.add_argument("--namespace", default="default")
    p_up.add_argument("--cluster-domain", default="cluster.local")
    p_up.add_argument("--ready-timeout", type=float, default=240)
    p_up.add_argument("--logs", help="write each container's output to DIR/<pod>.log after stopping")
    for p in (p_up, sub.add_parser("down")):
        p.add_argument("--network", default="tessera-k8s")
        p.add_argument("--purge", action="store_true", help="also remove the claims' volumes")
    opts = parser.parse_args()
    if shutil.which("docker") is None:
        print("kubelet-standin: docker is required", file=sys.stderr)
        return 2
    if opts.cmd == "down":
        remove_all(opts.network, opts.purge)
        return 0
    return up(opts)


if __name__ == "__main__":
    sys.exit(main())
