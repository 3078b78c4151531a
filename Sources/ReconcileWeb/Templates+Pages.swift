/// The overview, nodes, alerts and log search pages.
extension WebTemplates {
    static let overview = #"""
        {{<layout}}{{$title}}Overview{{/title}}{{$body}}
        <h1>Overview</h1>
        <div class="cards">
        {{#cards}}<div class="card {{health}}"><b>{{value}}</b>{{label}}</div>{{/cards}}
        </div>
        {{#hasIncidents}}<h2>Open incidents</h2>{{> incidentTable}}{{/hasIncidents}}
        <h2>Apps</h2>
        <table><tr><th>App</th><th>Ready</th><th>Revision</th><th></th></tr>
        {{#apps}}<tr><td><span class="dot {{health}}"></span><a href="/apps/{{name}}">{{name}}</a></td><td>{{ready}}/{{desired}}</td><td><code>{{revision}}</code></td><td class="muted">{{note}}</td></tr>{{/apps}}
        {{^apps}}<tr><td colspan="4" class="muted">No Apps in this commit.</td></tr>{{/apps}}
        </table>
        <h2>DAGs</h2>
        {{> dagTable}}
        <h2>Checks</h2>
        <table><tr><th>Check</th><th>Result</th><th>Last run</th></tr>
        {{#checks}}<tr><td><span class="dot {{health}}"></span>{{name}}</td><td>{{message}}</td><td class="muted">{{lastRun}}</td></tr>{{/checks}}
        {{^checks}}<tr><td colspan="3" class="muted">No check has run yet.</td></tr>{{/checks}}
        </table>
        <h2>Nodes</h2>
        {{> nodeTable}}
        {{/body}}{{/layout}}
        """#

    static let dagTable = #"""
        <table><tr><th>DAG</th><th>Schedule</th><th>Last run</th><th>Next</th><th></th></tr>
        {{#dags}}<tr><td><span class="dot {{health}}"></span><a href="/dags/{{name}}">{{name}}</a></td><td><code>{{schedule}}</code>{{#paused}} <span class="muted">paused</span>{{/paused}}</td>
        <td>{{#lastRun}}<a href="/dags/{{name}}/runs/{{lastRun}}">{{lastRun}}</a> {{lastState}}{{/lastRun}}{{^lastRun}}<span class="muted">never ran</span>{{/lastRun}}</td><td class="muted">{{next}}</td><td class="muted">{{#active}}{{active}} active{{/active}}</td></tr>{{/dags}}
        {{^dags}}<tr><td colspan="5" class="muted">No DAGs in this commit.</td></tr>{{/dags}}
        </table>
        """#

    static let nodeTable = #"""
        <table><tr><th>Node</th><th>CPU</th><th></th><th>Memory</th><th></th><th>Service</th></tr>
        {{#nodes}}<tr><td><span class="dot {{health}}"></span>{{name}}{{^reachable}} <b>unreachable</b>{{/reachable}}</td>
        <td><span class="bar"><i style="width:{{cpuPercent}}%"></i></span></td><td class="muted">{{cpuText}}</td>
        <td><span class="bar"><i style="width:{{memoryPercent}}%"></i></span></td><td class="muted">{{memoryText}}</td>
        <td>{{#draining}}<b class="draining">{{draining}}</b>{{/draining}}{{#canUncordon}} <form method="post" action="/nodes/{{name}}/uncordon" class="inline"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><button type="submit" id="uncordon-{{name}}">Uncordon</button></form>{{/canUncordon}}{{^draining}}<form method="post" action="/nodes/{{name}}/drain" class="inline"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><button type="submit" class="danger" id="drain-{{name}}">Drain</button></form>{{/draining}}</td></tr>{{/nodes}}
        {{^nodes}}<tr><td colspan="6" class="muted">No nodes observed yet.</td></tr>{{/nodes}}
        </table>
        """#

    static let incidentTable = #"""
        <table><tr><th>Incident</th><th>Since</th><th>Silence</th></tr>
        {{#incidents}}<tr><td><span class="dot {{health}}"></span><b>{{key}}</b> <span class="muted">{{severity}}{{#pending}}, pending{{/pending}}</span><br>{{summary}}</td><td class="muted">{{openedAt}}</td>
        <td>{{#silencedUntil}}silenced until {{silencedUntil}}{{/silencedUntil}}{{^silencedUntil}}<form method="post" action="/alerts/silence" class="inline">
        <input type="hidden" name="csrf" value="{{chrome.csrf}}"><input type="hidden" name="name" value="{{key}}">
        <select name="duration"><option>1h</option><option selected>2h</option><option>8h</option><option>24h</option></select>
        <button type="submit">Silence</button></form>{{/silencedUntil}}</td></tr>{{/incidents}}
        </table>
        """#

    static let dags = #"""
        {{<layout}}{{$title}}DAGs{{/title}}{{$body}}
        <h1>DAGs</h1>
        {{> dagTable}}
        {{/body}}{{/layout}}
        """#

    static let nodes = #"""
        {{<layout}}{{$title}}Nodes{{/title}}{{$body}}
        <h1>Nodes</h1>
        {{> nodeTable}}
        <h2>Placed on each node</h2>
        <table><tr><th>Node</th><th>Replica</th><th>App</th><th>State</th></tr>
        {{#replicas}}<tr><td>{{node}}</td><td><code>{{id}}</code></td><td><a href="/apps/{{app}}">{{app}}</a></td><td><span class="dot {{health}}"></span>{{state}}</td></tr>{{/replicas}}
        </table>
        {{/body}}{{/layout}}
        """#

    static let alerts = #"""
        {{<layout}}{{$title}}Alerts{{/title}}{{$body}}
        <h1>Alerts</h1>
        <h2>Open incidents</h2>
        {{#hasIncidents}}{{> incidentTable}}{{/hasIncidents}}{{^hasIncidents}}<p class="muted">None open.</p>{{/hasIncidents}}
        <h2>Checks</h2>
        <table><tr><th>Check</th><th>Result</th><th>Last run</th><th>Last match</th></tr>
        {{#checks}}<tr><td><span class="dot {{health}}"></span>{{name}}</td><td>{{message}}</td><td class="muted">{{lastRun}}</td><td class="muted">{{lastMatch}}</td></tr>{{/checks}}
        </table>
        <h2>Notifications not delivered yet</h2>
        <table><tr><th>Notice</th><th>Notifier</th><th>Attempts</th><th>Next</th><th>Last error</th></tr>
        {{#pending}}<tr><td>{{kind}} {{key}}</td><td>{{notifier}}</td><td>{{attempts}}</td><td>{{next}}</td><td class="muted">{{lastError}}</td></tr>{{/pending}}
        {{^pending}}<tr><td colspan="5" class="muted">Every notification was delivered.</td></tr>{{/pending}}
        </table>
        {{/body}}{{/layout}}
        """#

    static let logs = #"""
        {{<layout}}{{$title}}Logs{{/title}}{{$body}}
        <h1>Logs</h1>
        <form method="get" action="/logs">
          <input type="text" name="name" value="{{name}}" placeholder="APP or DAG/TASK" size="28">
          <input type="text" name="grep" value="{{grep}}" placeholder="regular expression" size="32">
          <select name="since">{{#sinceOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/sinceOptions}}</select>
          <button type="submit" class="primary">Search</button>
        </form>
        {{#error}}<p class="notice error">{{error}}</p>{{/error}}
        {{#searched}}<p class="muted">{{count}} lines{{#truncated}} (the latest {{count}}){{/truncated}}</p>
        <pre>{{#lines}}{{time}} {{source}} {{text}}
        {{/lines}}</pre>{{/searched}}
        {{/body}}{{/layout}}
        """#

    static let message = #"""
        {{<layout}}{{$title}}{{heading}}{{/title}}{{$body}}
        <h1>{{heading}}</h1>
        <p>{{text}}</p>
        <p><a href="{{back}}">Back</a></p>
        {{/body}}{{/layout}}
        """#
}
