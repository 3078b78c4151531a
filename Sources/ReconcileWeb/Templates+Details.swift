/// The App, DAG and run pages.
extension WebTemplates {
    static let app = #"""
        {{<layout}}{{$title}}{{name}}{{/title}}{{$body}}
        <h1><span class="dot {{health}}"></span>App {{name}}</h1>
        <p>{{ready}}/{{desired}} ready · revision <code>{{revision}}</code>{{#rollingOut}} · <b>rolling out</b>{{/rollingOut}}{{#run}} · runs <code>{{run}}</code>{{/run}} · {{resources}}</p>
        <h2>Replicas</h2>
        <table><tr><th>Node</th><th>Slot</th><th>Replica</th><th>Revision</th><th>State</th><th>Started</th><th>Restarts</th></tr>
        {{#replicas}}<tr><td>{{node}}</td><td>{{slot}}</td><td><code>{{id}}</code></td><td><code>{{revision}}</code></td><td><span class="dot {{health}}"></span>{{state}}</td><td class="muted">{{startedAt}}</td><td>{{restarts}}</td></tr>{{/replicas}}
        {{^replicas}}<tr><td colspan="7" class="muted">No replica runs.</td></tr>{{/replicas}}
        </table>
        {{#hasWhy}}<h2>Why here</h2>
        <pre id="why">{{#why}}{{.}}
        {{/why}}</pre>{{/hasWhy}}
        <h2>Rollouts</h2>
        <table><tr><th>When</th><th>Event</th><th>Revision</th><th>Commit</th><th></th></tr>
        {{#rollouts}}<tr><td class="muted">{{at}}</td><td><span class="dot {{health}}"></span>{{kind}}</td><td><code>{{from}}</code> → <code>{{to}}</code></td><td><code>{{commit}}</code></td><td class="muted">{{detail}}</td></tr>{{/rollouts}}
        {{^rollouts}}<tr><td colspan="5" class="muted">No rollout recorded.</td></tr>{{/rollouts}}
        </table>
        <h2>Recent logs</h2>
        <p><a href="/logs?name={{name}}">Search this App's logs</a></p>
        <pre>{{#logs}}{{time}} {{source}} {{text}}
        {{/logs}}{{^logs}}No output collected yet.{{/logs}}</pre>
        {{/body}}{{/layout}}
        """#

    static let graph = #"""
        <div class="svg"><svg xmlns="http://www.w3.org/2000/svg" width="{{width}}" height="{{height}}" viewBox="0 0 {{width}} {{height}}" role="img" aria-label="task graph">
        <defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#7d8796"/></marker></defs>
        {{#edges}}<path class="edge" data-from="{{from}}" data-to="{{to}}" d="{{path}}" marker-end="url(#arrow)"/>{{/edges}}
        {{#nodes}}<a href="{{href}}"><g class="task state-{{state}}" id="task-{{name}}" data-task="{{name}}" data-state="{{state}}"><title>{{name}}: {{state}}</title><rect x="{{x}}" y="{{y}}" width="{{width}}" height="{{height}}"/><text x="{{textX}}" y="{{textY}}">{{name}}</text></g></a>{{/nodes}}
        </svg></div>
        """#

    static let legend = #"""
        <p class="legend">{{#legend}}<span><i class="state-{{.}}"></i>{{.}}</span>{{/legend}}</p>
        """#

    static let dag = #"""
        {{<layout}}{{$title}}{{name}}{{/title}}{{$body}}
        <h1><span class="dot {{health}}"></span>DAG {{name}}</h1>
        <p><code>{{schedule}}</code> {{timezone}}{{#paused}} · <b id="paused">paused {{pausedBy}}</b>{{/paused}}{{#next}} · next run {{next}}{{/next}}{{#deadline}} · deadline {{deadline}} after each logical date{{/deadline}} · {{taskCount}} tasks
        {{#canPause}}<form method="post" action="/dags/{{name}}/pause" class="inline"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><button type="submit" id="pause">Pause</button></form>{{/canPause}}{{#canUnpause}}<form method="post" action="/dags/{{name}}/unpause" class="inline"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><button type="submit" id="unpause">Unpause</button></form>{{/canUnpause}}</p>
        <form method="post" action="/dags/{{name}}/trigger" class="trigger"><input type="hidden" name="csrf" value="{{chrome.csrf}}">
        {{#params}}<label>{{name}} <span class="muted">{{type}}</span> {{#hasOptions}}<select name="param.{{name}}" id="param-{{name}}">{{#options}}<option{{#selected}} selected{{/selected}}>{{value}}</option>{{/options}}</select>{{/hasOptions}}{{^hasOptions}}<input name="param.{{name}}" id="param-{{name}}" value="{{value}}"{{#isNumber}} inputmode="numeric"{{/isNumber}}>{{/hasOptions}}{{#description}} <span class="muted">{{description}}</span>{{/description}}</label> {{/params}}
        <button type="submit" class="primary" id="trigger">Trigger run</button></form>
        {{#late}}<p class="bad" id="late"><b>Late:</b> {{late}}</p>{{/late}}
        <h2>Graph{{#selected}} · run <a href="/dags/{{name}}/runs/{{selected}}">{{selected}}</a> {{selectedState}}{{/selected}}</h2>
        {{#graph}}{{> graph}}{{/graph}}
        {{> legend}}
        <h2>Grid · the latest {{runCount}} runs</h2>
        <div class="grid"><table>
        <tr><th></th>{{#columns}}<td><a class="run state-{{state}}" href="/dags/{{dag}}/runs/{{run}}" title="{{run}}: {{state}}" data-run="{{run}}"></a></td>{{/columns}}</tr>
        {{#rows}}<tr><th class="task">{{task}}</th>{{#cells}}<td><a class="cell state-{{state}}" href="{{href}}" title="{{title}}" data-state="{{state}}"></a></td>{{/cells}}</tr>{{/rows}}
        </table></div>
        {{^columns}}<p class="muted">No runs yet.</p>{{/columns}}
        <h2>Tasks</h2>
        <table><tr><th>Task</th><th>After</th><th>Runs</th><th>Retries</th><th>Pool</th></tr>
        {{#tasks}}<tr><td>{{name}}</td><td>{{after}}</td><td><code>{{command}}</code></td><td>{{retries}}</td><td>{{pool}}</td></tr>{{/tasks}}
        </table>
        {{/body}}{{/layout}}
        """#

    static let run = #"""
        {{<layout}}{{$title}}{{dag}} {{run}}{{/title}}{{$body}}
        <h1><span class="pill state-{{state}}">{{state}}</span> <a href="/dags/{{dag}}">{{dag}}</a> run {{run}}</h1>
        <p>logical date {{logicalDate}} · data interval {{intervalStart}} – {{intervalEnd}} · commit <code>{{commit}}</code>{{#finishedAt}} · finished {{finishedAt}}{{/finishedAt}}</p>
        {{#params}}<p id="params">params: <code>{{params}}</code></p>{{/params}}
        {{#failure}}<p class="notice error">{{failure}}</p>{{/failure}}
        {{#cancelAsked}}<p class="notice">Cancel asked at {{cancelAsked}}: the controller stops it within a step.</p>{{/cancelAsked}}
        <p>{{#canCancel}}<form method="post" action="/dags/{{dag}}/runs/{{run}}/cancel" class="inline"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><button type="submit" class="danger" id="cancel">Cancel run</button></form>{{/canCancel}}{{#canRerunFailed}}<form method="post" action="/dags/{{dag}}/runs/{{run}}/rerun" class="inline"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><input type="hidden" name="failed" value="1"><button type="submit" class="danger" id="rerun-failed">Rerun failed</button></form>{{/canRerunFailed}}</p>
        {{#graph}}{{> graph}}{{/graph}}
        {{> legend}}
        <h2>Tasks</h2>
        <table><tr><th>Task</th><th>State</th><th>Latest try</th><th></th></tr>
        {{#tasks}}<tr id="row-{{name}}"><td>{{name}}</td><td><span class="pill state-{{state}}" data-task="{{name}}">{{state}}</span>{{#why}}<div class="muted why">{{why}}</div>{{/why}}</td><td>{{tries}}</td>
        <td><form method="post" action="/dags/{{dag}}/runs/{{run}}/rerun" class="inline"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><input type="hidden" name="task" value="{{name}}"><input type="hidden" name="downstream" value="1"><button type="submit">Rerun with downstream</button></form>{{#canMark}} <form method="post" action="/dags/{{dag}}/runs/{{run}}/mark" class="inline"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><input type="hidden" name="task" value="{{name}}"><input type="hidden" name="state" value="success"><button type="submit" id="mark-success-{{name}}">Mark success</button></form> <form method="post" action="/dags/{{dag}}/runs/{{run}}/mark" class="inline"><input type="hidden" name="csrf" value="{{chrome.csrf}}"><input type="hidden" name="task" value="{{name}}"><input type="hidden" name="state" value="failed"><button type="submit" class="danger" id="mark-failed-{{name}}">Mark failed</button></form>{{/canMark}}</td></tr>{{/tasks}}
        </table>
        <h2>Attempts</h2>
        <table><tr><th>Task</th><th>Try</th><th>State</th><th>Exit</th><th>Node</th><th>Started</th><th>Duration</th></tr>
        {{#attempts}}<tr{{#cleared}} class="muted"{{/cleared}}><td>{{task}}</td><td>{{tryNumber}}</td><td><span class="dot state-{{state}}"></span>{{state}}{{#cleared}} (cleared){{/cleared}}</td><td>{{exitCode}}{{#error}}<div class="notice error">{{error}}</div>{{/error}}{{#outputs}}<pre class="outputs">{{outputs}}</pre>{{/outputs}}</td><td>{{node}}</td><td class="muted">{{startedAt}}</td><td>{{duration}}</td></tr>
        <tr><td colspan="7"><details{{#open}} open{{/open}}><summary>output of {{task}} try {{tryNumber}}</summary><pre>{{#logs}}{{time}} {{text}}
        {{/logs}}{{^logs}}{{logNote}}{{/logs}}</pre></details></td></tr>{{/attempts}}
        {{^attempts}}<tr><td colspan="7" class="muted">No task has started.</td></tr>{{/attempts}}
        </table>
        {{/body}}{{/layout}}
        """#
}
