import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime

/// The plan as JSON (`--output json`, version 1; `reconcile schema --plan` prints its JSON Schema):
/// the commits, one object per line of the text plan in the same order — its marker, kind, name,
/// the change and, where known, details (image, command and replicas from/to, files, tasks) — and
/// summary counts. Every object carries its text `line`, so the two forms cannot say different things.
struct PlanDocument: Encodable {
    struct Commit: Encodable {
        var commit: String
        var ref: String
    }

    struct Commits: Encodable {
        var from: Commit?
        var to: Commit
    }

    struct Change<Value: Encodable>: Encodable {
        var from: Value?
        var to: Value?
    }

    struct FileChange: Encodable {
        var path: String
        var change: String
    }

    struct Details: Encodable {
        var image: Change<String>?
        var command: Change<[String]>?
        var replicas: Change<Int>?
        var nodes: [String]?
        var files: [FileChange]?
        var tasksAdded: [String]?
        var tasksRemoved: [String]?
        var tasksChanged: [String]?

        var isEmpty: Bool {
            image == nil && command == nil && replicas == nil && nodes == nil && files == nil && tasksAdded == nil
                && tasksRemoved == nil && tasksChanged == nil
        }
    }

    struct Action: Encodable {
        /// `+` added, `-` removed, `~` changed, `!` a warning (a replica that fits nowhere).
        var marker: String
        /// app, dag, check, notifier, node, registry or volume.
        var kind: String
        var name: String
        /// added, removed, updated, scaled, repaired, rolledBack, moved, waiting, changed, unplaceable.
        var change: String
        /// The line of the text plan.
        var line: String
        var details: Details?
    }

    struct Summary: Encodable {
        var added = 0
        var changed = 0
        var removed = 0
        var warnings = 0
        var unchanged = 0
    }

    var version = 1
    /// "offline" (`--against`: from one commit's desired state to another's) or "cluster" (one
    /// pass against what runs).
    var mode: String
    var commits: Commits
    var actions: [Action] = []
    var summary = Summary()
    /// The exit status says the same: 2 when changes are pending.
    var changed: Bool

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The document for a plan and the text lines it was printed as. `old` is the desired state the
    /// plan starts from when known (offline plans), for from/to details.
    init(
        mode: String, commits: Commits, plan: Plan, lines: [String], changed: Bool, old: DesiredState?,
        new: DesiredState, unchanged: Int
    ) {
        self.mode = mode
        self.commits = commits
        self.changed = changed
        summary.unchanged = unchanged
        let oldApps = Dictionary((old?.apps ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newApps = Dictionary(new.apps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let oldDAGs = Dictionary((old?.dags ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newDAGs = Dictionary(new.dags.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let appChanges = Dictionary(plan.changes.map { ($0.app, $0) }, uniquingKeysWith: { a, _ in a })
        for line in lines {
            guard line.count > 2, let marker = line.first, "+-~!".contains(marker) else { continue }
            let body = line.dropFirst(2)
            let words = body.split(separator: " ", maxSplits: 2)
            guard words.count >= 2 else { continue }
            let kind = String(words[0])
            let name = String(words[1].hasSuffix(":") ? words[1].dropLast() : words[1])
            var action = Action(
                marker: String(marker), kind: kind, name: name, change: Self.change(marker, body), line: line)
            var details = Details()
            if kind == "app", marker != "!" {
                let change = appChanges[name]
                if let kind = change?.kind { action.change = "\(kind)" }
                let before = oldApps[name]
                let after = newApps[name]
                if before?.image != after?.image || change?.kind == .added {
                    details.image = Change(from: before?.image, to: after?.image)
                }
                if before?.command != after?.command, after?.command != nil || before?.command != nil {
                    details.command = Change(from: before?.command, to: after?.command)
                }
                if before?.replicas != after?.replicas {
                    details.replicas = Change(from: before?.replicas, to: after?.replicas)
                }
                let nodes = plan.starts.filter { $0.app == name }.map(\.node)
                if !nodes.isEmpty { details.nodes = nodes }
                if let before, let after {
                    let files = FileSpec.changes(from: before.files, to: after.files).map {
                        FileChange(path: $0.path, change: $0.change)
                    }
                    if !files.isEmpty { details.files = files }
                }
            } else if kind == "dag", marker != "-" {
                let before = Set(oldDAGs[name]?.tasks.map(\.name) ?? [])
                let tasks = newDAGs[name]?.tasks ?? []
                let added = tasks.map(\.name).filter { !before.contains($0) }
                let removed = before.subtracting(tasks.map(\.name)).sorted()
                let changedTasks = tasks.filter { task in
                    oldDAGs[name]?.tasks.first { $0.name == task.name }.map { $0 != task } ?? false
                }.map(\.name)
                if !added.isEmpty { details.tasksAdded = added }
                if !removed.isEmpty { details.tasksRemoved = removed }
                if !changedTasks.isEmpty { details.tasksChanged = changedTasks }
            }
            if !details.isEmpty { action.details = details }
            switch marker {
            case "+": summary.added += 1
            case "-": summary.removed += 1
            case "!": summary.warnings += 1
            default: summary.changed += 1
            }
            actions.append(action)
        }
    }

    private static func change(_ marker: Character, _ body: Substring) -> String {
        switch marker {
        case "+": "added"
        case "-": "removed"
        case "!": body.contains("unplaceable") ? "unplaceable" : "warning"
        default: "changed"
        }
    }

    /// The JSON Schema of the document (draft 2020-12).
    static let schema = """
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "$id": "https://reconcile.dev/schema/plan-1.json",
          "title": "reconcile plan (version 1)",
          "type": "object",
          "required": ["version", "mode", "commits", "actions", "summary", "changed"],
          "additionalProperties": false,
          "properties": {
            "version": {"const": 1},
            "mode": {"enum": ["offline", "cluster"]},
            "commits": {
              "type": "object",
              "required": ["to"],
              "additionalProperties": false,
              "properties": {"from": {"$ref": "#/$defs/commit"}, "to": {"$ref": "#/$defs/commit"}}
            },
            "actions": {"type": "array", "items": {"$ref": "#/$defs/action"}},
            "summary": {
              "type": "object",
              "required": ["added", "changed", "removed", "warnings", "unchanged"],
              "additionalProperties": false,
              "properties": {
                "added": {"type": "integer", "minimum": 0},
                "changed": {"type": "integer", "minimum": 0},
                "removed": {"type": "integer", "minimum": 0},
                "warnings": {"type": "integer", "minimum": 0},
                "unchanged": {"type": "integer", "minimum": 0}
              }
            },
            "changed": {"type": "boolean", "description": "changes are pending (exit status 2)"}
          },
          "$defs": {
            "commit": {
              "type": "object",
              "required": ["commit", "ref"],
              "additionalProperties": false,
              "properties": {"commit": {"type": "string", "pattern": "^[0-9a-f]{40}$"}, "ref": {"type": "string"}}
            },
            "fromTo": {
              "type": "object",
              "additionalProperties": false,
              "properties": {"from": {}, "to": {}}
            },
            "action": {
              "type": "object",
              "required": ["marker", "kind", "name", "change", "line"],
              "additionalProperties": false,
              "properties": {
                "marker": {"enum": ["+", "-", "~", "!"]},
                "kind": {"enum": ["app", "dag", "check", "notifier", "node", "registry", "volume", "pool"]},
                "name": {"type": "string", "minLength": 1},
                "change": {
                  "enum": ["added", "removed", "updated", "scaled", "repaired", "rolledBack", "moved", "waiting",
                           "changed", "unplaceable", "warning"]
                },
                "line": {"type": "string", "description": "the same line of the text plan"},
                "details": {
                  "type": "object",
                  "additionalProperties": false,
                  "properties": {
                    "image": {"$ref": "#/$defs/fromTo"},
                    "command": {"$ref": "#/$defs/fromTo"},
                    "replicas": {"$ref": "#/$defs/fromTo"},
                    "nodes": {"type": "array", "items": {"type": "string"}},
                    "files": {
                      "type": "array",
                      "items": {
                        "type": "object",
                        "required": ["path", "change"],
                        "additionalProperties": false,
                        "properties": {"path": {"type": "string"}, "change": {"enum": ["added", "changed", "removed"]}}
                      }
                    },
                    "tasksAdded": {"type": "array", "items": {"type": "string"}},
                    "tasksRemoved": {"type": "array", "items": {"type": "string"}},
                    "tasksChanged": {"type": "array", "items": {"type": "string"}}
                  }
                }
              }
            }
          }
        }
        """
}
