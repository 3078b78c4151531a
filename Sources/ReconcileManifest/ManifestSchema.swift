import Foundation
import ReconcileModel

/// The JSON Schema (draft-07) of the manifest format, rendered from the loader's own tables.
public enum ManifestSchema {
    public static func jsonSchema() -> String {
        var definitions: [String: Any] = [:]
        var branches: [Any] = []
        for kind in Kind.allCases {
            definitions[kind.rawValue] = object(Schemas.document(kind))
            branches.append([
                "if": ["properties": ["kind": ["const": kind.rawValue]], "required": ["kind"]],
                "then": ["$ref": "#/definitions/\(kind.rawValue)"],
            ])
        }
        let root: [String: Any] = [
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "reconcile manifest document",
            "description": "One document of a reconcile manifest repository: a Node, App, DAG, Check or Notifier.",
            "type": "object",
            "required": ["kind", "name"],
            "properties": ["kind": ["enum": Kind.allCases.map(\.rawValue)]],
            "allOf": branches,
            "definitions": definitions,
        ]
        let data = try! JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static func object(_ schema: ObjectSchema) -> [String: Any] {
        var properties: [String: Any] = [:]
        for field in schema.fields {
            var rendered = value(field.value)
            rendered["description"] = field.summary
            properties[field.key] = rendered
        }
        var result: [String: Any] = [
            "type": "object", "properties": properties, "additionalProperties": false,
        ]
        let required = schema.fields.filter(\.required).map(\.key)
        if !required.isEmpty { result["required"] = required }
        if let group = schema.exactlyOne.first {
            result["oneOf"] = group.map { ["required": [$0]] }
        }
        return result
    }

    static func value(_ schema: ValueSchema) -> [String: Any] {
        switch schema {
        case .string:
            return ["type": ["string", "number"]]
        case .integer(let minimum, let maximum):
            var result: [String: Any] = ["type": "integer"]
            if let minimum { result["minimum"] = minimum }
            if let maximum { result["maximum"] = maximum }
            return result
        case .boolean:
            return ["type": "boolean"]
        case .duration:
            return ["type": "string", "pattern": "^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"]
        case .cpu:
            return ["type": ["string", "number"], "pattern": "^([0-9]+m|[0-9]*\\.?[0-9]+)$"]
        case .memory:
            return ["type": ["string", "integer"], "pattern": "^[0-9]*\\.?[0-9]+(Ki|Mi|Gi|Ti|k|K|M|G|T)?$"]
        case .cron:
            return ["type": "string", "description": "5-field cron or @hourly/@daily/@weekly/@monthly/@yearly"]
        case .timezone:
            return ["type": "string", "description": "IANA time zone name"]
        case .timestamp:
            return ["type": "string", "format": "date-time"]
        case .name:
            return ["type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63]
        case .secretReference:
            return ["type": "string", "pattern": "^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$"]
        case .enumeration(let words):
            return ["enum": words]
        case .list(let item, let minItems):
            var result: [String: Any] = ["type": "array", "items": value(item)]
            if minItems > 0 { result["minItems"] = minItems }
            return result
        case .map(let item):
            return ["type": "object", "additionalProperties": value(item)]
        case .object(let nested):
            return object(nested)
        case .anyOf(let options):
            return ["anyOf": options.map(value)]
        }
    }
}
