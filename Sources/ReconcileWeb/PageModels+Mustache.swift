import Mustache

// The rows a page repeats by the hundred answer the template's lookups directly: swift-mustache
// otherwise reflects each value with Mirror and scans its fields for every tag (most of a 100-run
// grid's render time).

extension GridCell: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "state": state
        case "href": href
        case "title": title
        default: nil
        }
    }
}

extension GridColumn: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "dag": dag
        case "run": run
        case "state": state
        default: nil
        }
    }
}

extension GridRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "task": task
        case "cells": cells
        default: nil
        }
    }
}

extension GraphModel.Node: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "state": state
        case "href": href
        case "x": x
        case "y": y
        case "width": width
        case "height": height
        case "textX": textX
        case "textY": textY
        default: nil
        }
    }
}

extension DAGGraph.Edge: MustacheParent {
    public func child(named name: String) -> Any? {
        switch name {
        case "from": from
        case "to": to
        case "path": path
        default: nil
        }
    }
}

extension AppRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "ready": ready
        case "desired": desired
        case "revision": revision
        case "health": health
        case "note": note
        default: nil
        }
    }
}

extension ReplicaRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "node": node
        case "slot": slot
        case "id": id
        case "app": app
        case "revision": revision
        case "state": state
        case "health": health
        case "startedAt": startedAt
        case "restarts": restarts
        default: nil
        }
    }
}

extension LogRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "time": time
        case "source": source
        case "text": text
        default: nil
        }
    }
}

extension DAGRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "schedule": schedule
        case "paused": paused
        case "lastRun": lastRun as Any?
        case "lastState": lastState as Any?
        case "next": next
        case "active": active as Any?
        case "health": health
        default: nil
        }
    }
}
