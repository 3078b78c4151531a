"""Validates manifest documents against `reconcile schema` output with the jsonschema package.

Usage: schema_check.py SCHEMA.json FILE.yaml...   Prints one line per document: "ok PATH#N" or
"invalid PATH#N: reason". Timestamps stay strings (as in the YAML language server), so the
loader is PyYAML's SafeLoader without its timestamp resolver.
"""
import json
import sys

import jsonschema
import yaml


class Loader(yaml.SafeLoader):
    pass


Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as handle:
            documents = [doc for doc in yaml.load_all(handle, Loader=Loader) if doc is not None]
        for index, document in enumerate(documents):
            errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
            if errors:
                print(f"invalid {path}#{index}: {errors[0].message}")
            else:
                print(f"ok {path}#{index}")


if __name__ == "__main__":
    main()
