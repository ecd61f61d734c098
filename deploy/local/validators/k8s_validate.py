"""Validates a stream of Kubernetes resources offline, strictly.

Usage: k8s_validate.py --kubernetes-version 1.33 --crds DIR [--crds DIR ...] < stream.yaml

Built-in kinds are checked with kubernetes-validate (the Kubernetes API's JSON
schemas of that release, strict: unknown fields are errors). Custom resources
are checked against the openAPIV3Schema of the matching version in the CRD
files found in the --crds folders, made strict the same way: an object schema
that lists its properties and neither allows others nor sets
x-kubernetes-preserve-unknown-fields rejects unknown fields, as the API
server's strict field validation (kubectl's default) does.

Prints one line per resource: "ok KIND/NAME against SOURCE" or
"error KIND/NAME: MESSAGE". Exits 1 if any resource failed or had no schema.
"""

import argparse
import copy
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml


def load_crds(folders):
    """(group, version, kind) -> (schema, source file) for every CRD in `folders`."""
    schemas = {}
    for folder in folders:
        for path in sorted(pathlib.Path(folder).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    schemas[key] = (version["schema"]["openAPIV3Schema"], path.name)
    return schemas


def strict_json_schema(node):
    """The JSON Schema of an OpenAPI v3 structural schema, unknown fields rejected."""
    if isinstance(node, list):
        return [strict_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict_json_schema(value) for key, value in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def validate_custom(doc, schema):
    validator = jsonschema.Draft202012Validator(strict_json_schema(copy.deepcopy(schema)))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("--crds", action="append", default=[])
    args = parser.parse_args()
    crds = load_crds(args.crds)
    failed = False
    for doc in yaml.safe_load_all(sys.stdin):
        if not doc:
            continue
        group, _, version = doc.get("apiVersion", "").rpartition("/")
        custom = crds.get((group, version, doc.get("kind")))
        if custom is not None:
            schema, source = custom
            errors = validate_custom(doc, schema)
            if not (doc.get("metadata") or {}).get("name"):
                errors.append("metadata/name: is required")
        else:
            source = None
            try:
                used = kubernetes_validate.validate(doc, args.kubernetes_version, strict=True)
                source = f"Kubernetes {used} schemas of kubernetes-validate"
                errors = []
            except kubernetes_validate.ValidationError as error:
                path = "/".join(map(str, error.absolute_path)) or "(root)"
                errors = [f"{path}: {error.message}"]
            except kubernetes_validate.SchemaNotFoundError as error:
                errors = [error.message]
        if errors:
            failed = True
            for message in errors:
                print(f"error {name_of(doc)}: {message}")
        else:
            print(f"ok {name_of(doc)} against {source}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
