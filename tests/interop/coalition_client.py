# SPDX-License-Identifier: Apache-2.0
"""A Coalition client built only from the public protoset: no generated code, Debian's grpcio."""
import os
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory


class Coalition:
    """Calls the gateway over mTLS; messages are dicts in the proto3 JSON mapping."""

    def __init__(self, target, protoset, ca, cert=None, key=None, server_name=None,
                 insecure=False):
        """ca None with insecure=True: a plaintext channel (the health listeners only)."""
        fds = descriptor_pb2.FileDescriptorSet()
        with open(protoset, "rb") as f:
            fds.ParseFromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        for fd in fds.file:
            self.pool.Add(fd)
        if insecure:
            self.channel = grpc.insecure_channel(target)
            return
        def rd(p):
            if p is None:
                return None
            with open(p, "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(rd(ca), rd(key), rd(cert))
        opts = []
        if server_name:
            opts.append(("grpc.ssl_target_name_override", server_name))
        self.channel = grpc.secure_channel(target, creds, opts)

    def _classes(self, service, method):
        sd = self.pool.FindServiceByName(service)
        md = sd.FindMethodByName(method)
        if hasattr(message_factory, "GetMessageClass"):
            return (message_factory.GetMessageClass(md.input_type),
                    message_factory.GetMessageClass(md.output_type))
        factory = message_factory.MessageFactory(self.pool)
        req = factory.GetPrototype(md.input_type)
        resp = factory.GetPrototype(md.output_type)
        return req, resp

    def raw(self, service, method, payload, metadata=None, timeout=10):
        """Sends payload bytes as they are; returns the response bytes."""
        fn = self.channel.unary_unary("/%s/%s" % (service, method))
        return fn(payload, metadata=metadata, timeout=timeout)

    def call(self, service, method, body, metadata=None, timeout=10):
        req_cls, resp_cls = self._classes(service, method)
        req = json_format.ParseDict(body, req_cls())
        fn = self.channel.unary_unary(
            "/%s/%s" % (service, method),
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=resp_cls.FromString,
        )
        resp = fn(req, metadata=metadata, timeout=timeout)
        return json_format.MessageToDict(resp, preserving_proto_field_name=True)

    def health(self, service="", timeout=5):
        """grpc.health.v1.Health/Check; returns the status name ("SERVING", ...)."""
        body = self.call("grpc.health.v1.Health", "Check", {"service": service}, timeout=timeout)
        return body.get("status", "UNKNOWN")

    def close(self):
        self.channel.close()


def from_env(identity):
    """A client for identity ('admin-operator', 'partner-bakery', ...) from COALITION_* variables.

    identity None presents no client certificate (the gateway's handshake refuses it)."""
    pki = os.environ["COALITION_TEST_PKI"]
    cert = key = None
    if identity is not None:
        cert = os.path.join(pki, identity + ".crt")
        key = os.path.join(pki, identity + ".key")
    return Coalition(
        os.environ["COALITION_TEST_GATEWAY"],
        os.environ["COALITION_TEST_PROTOSET"],
        os.path.join(pki, "ca.crt"),
        cert,
        key,
    )


def health_from_env(variable="COALITION_TEST_GATEWAY_HEALTH"):
    """A plaintext client to a process's health listener ("host:port" in variable)."""
    return Coalition(os.environ[variable], os.environ["COALITION_TEST_PROTOSET"], None,
                     insecure=True)


class Checks:
    """Counts self-checks of an interop script; each prints one line, the last line counts all."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok   %s" % name)
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + detail) if detail else ""))
        sys.stdout.flush()
        return bool(cond)

    def status(self, name, got, want):
        """got is an outcome (code, value, details); want a StatusCode or a tuple of them."""
        wants = want if isinstance(want, tuple) else (want,)
        code, _, details = got
        shown = "/".join(w.name for w in wants)
        if len(wants) > 1 and code in wants:
            shown += " (%s)" % code.name
        return self.check("%s -> %s" % (name, shown), code in wants,
                          "got %s %r" % (code.name, details))

    def finish(self):
        """Prints "N passed, M failed" and returns the exit status (1 on failure or no check)."""
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed or self.passed == 0 else 0


def outcome(fn, *args, **kwargs):
    """(status code, response, details) of one call; never raises an RpcError."""
    try:
        return grpc.StatusCode.OK, fn(*args, **kwargs), ""
    except grpc.RpcError as e:
        return e.code(), None, e.details()
