/// The page frame every page extends, its style sheet, and the login page. No JavaScript: forms
/// post, `<details>` folds, and a running run's pages refresh themselves.
extension WebTemplates {
    static let layout = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{#chrome}}{{#refresh}}<meta http-equiv="refresh" content="{{refresh}}">{{/refresh}}{{/chrome}}
        <title>{{$title}}reconcile{{/title}} · reconcile</title>
        <style>{{{chrome.style}}}</style>
        </head>
        <body>
        {{#chrome}}
        <header>
          <a class="brand" href="/">reconcile</a>
          <nav>
            <a href="/">Overview</a><a href="/dags">DAGs</a><a href="/nodes">Nodes</a><a href="/alerts">Alerts</a><a href="/logs">Logs</a>
          </nav>
          <span class="commit">{{#commit}}commit <code>{{commit}}</code>{{#appliedAt}} applied {{appliedAt}}{{/appliedAt}}{{/commit}}{{^commit}}no valid commit yet{{/commit}}</span>
          <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button class="link">Log out</button></form>
        </header>
        {{#notice}}<p class="notice {{kind}}">{{text}}</p>{{/notice}}
        {{/chrome}}
        <main>
        {{$body}}{{/body}}
        </main>
        {{#chrome}}<footer>reconcile {{version}}</footer>{{/chrome}}
        </body>
        </html>
        """#

    static let style = """
        *{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2430;background:#f5f6f8}
        header{display:flex;gap:18px;align-items:center;padding:10px 20px;background:#1d2430;color:#dfe3ea}
        footer{padding:14px 20px;color:#6b7480;font-size:12px}
        header a{color:#dfe3ea;text-decoration:none}header nav a{margin-right:14px}header .brand{font-weight:700;font-size:16px}
        header .commit{margin-left:auto;font-size:12px;color:#aab3c0}header code{color:#fff}
        main{padding:16px 20px;max-width:1500px}h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:22px 0 8px}
        a{color:#1f5fbf}table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:8px}
        th,td{text-align:left;padding:5px 9px;border-bottom:1px solid #e4e7ec;vertical-align:top}th{font-weight:600;color:#5a6474;font-size:12px}
        .dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px;vertical-align:middle}
        .ok{background:#2e9d4a}.warn{background:#e0a100}.bad{background:#d6383a}.off{background:#9aa3ae}
        .pill{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-size:12px}
        .cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:6px}.card{background:#fff;border-radius:6px;padding:10px 14px;min-width:150px;border-left:5px solid #9aa3ae}
        .card.ok{border-color:#2e9d4a;background:#fff}.card.warn{border-color:#e0a100;background:#fff}.card.bad{border-color:#d6383a;background:#fff}
        .card b{font-size:20px;display:block}
        .bar{background:#e4e7ec;border-radius:3px;height:8px;width:160px;display:inline-block;vertical-align:middle}.bar i{display:block;height:8px;border-radius:3px;background:#3b7dd8}
        form.inline{display:inline;margin:0}button{font:inherit;padding:3px 10px;border:1px solid #b8c0cc;border-radius:4px;background:#fff;cursor:pointer}
        button.primary{background:#1f5fbf;color:#fff;border-color:#1f5fbf}button.danger{background:#d6383a;color:#fff;border-color:#d6383a}
        button.link{border:0;background:none;color:#dfe3ea;padding:0}
        pre{background:#10151d;color:#d6dde8;padding:10px;overflow:auto;font-size:12px;margin:6px 0}
        .notice{padding:8px 20px;margin:0}.notice.good{background:#dff3e4}.notice.error{background:#fbe0e0}
        .state-succeeded{background:#2e9d4a}.state-failed,.state-timedOut{background:#d6383a}.state-upstreamFailed{background:#f28c28}
        .state-running{background:#4cc36b}.state-retrying{background:#e0c000}.state-queued,.state-waiting{background:#9aa3ae}
        .state-skipped{background:#e58bd0}.state-none{background:#eef0f3}.state-cancelled{background:#5b6470}
        svg .task rect{stroke:#1d2430;stroke-width:1;rx:5}svg .task text{font-size:12px;text-anchor:middle;fill:#111}
        svg .task.state-succeeded rect{fill:#2e9d4a}svg .task.state-failed rect,svg .task.state-timedOut rect{fill:#d6383a}
        svg .task.state-upstreamFailed rect{fill:#f28c28}svg .task.state-running rect{fill:#4cc36b}svg .task.state-retrying rect{fill:#e0c000}
        svg .task.state-queued rect,svg .task.state-waiting rect{fill:#c3c9d1}svg .task.state-skipped rect{fill:#e58bd0}svg .task.state-none rect{fill:#fff}svg .task.state-cancelled rect{fill:#5b6470}
        svg .task.state-failed text,svg .task.state-succeeded text,svg .task.state-timedOut text{fill:#fff}
        svg{background:none}svg .task{cursor:pointer}
        svg path.edge{fill:none;stroke:#7d8796;stroke-width:1.4}svg svg{overflow:visible}
        .svg{background:#fff;padding:8px;overflow:auto;border-radius:6px}
        .grid{overflow:auto;background:#fff;border-radius:6px;padding:8px}.grid table{width:auto;background:none}.grid td,.grid th{padding:1px;border:0}
        .grid th.task{padding-right:12px;font-size:13px;color:#1d2430;white-space:nowrap}
        .grid a.cell{display:block;width:14px;height:14px;border-radius:2px}.grid a.run{display:block;width:14px;height:28px;border-radius:2px}
        .legend span{display:inline-block;margin-right:10px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
        .muted{color:#6b7584}.mono,code{font-family:ui-monospace,Menlo,monospace;font-size:12px}
        input[type=text],input[type=password],select{font:inherit;padding:3px 6px;border:1px solid #b8c0cc;border-radius:4px}
        .login{max-width:360px;margin:80px auto;background:#fff;padding:24px;border-radius:8px}.login input{width:100%;margin:6px 0 12px}
        """

    static let login = #"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Log in · reconcile</title><style>{{{style}}}</style></head>
        <body><div class="login">
        <h1>reconcile</h1>
        {{#error}}<p class="notice error">{{error}}</p>{{/error}}
        {{#enabled}}
        <form method="post" action="/login">
          <label for="token">API token</label>
          <input type="password" id="token" name="token" autocomplete="current-password" autofocus>
          <input type="hidden" name="next" value="{{next}}">
          <button class="primary" type="submit" id="login">Log in</button>
        </form>
        <p class="muted">The token the controller was started with (<code>--api-token</code>).</p>
        {{#plainHTTP}}<p class="notice" id="plain-http">This controller serves plain HTTP. Browsers keep its login cookie (marked Secure) only over HTTPS or on localhost, so logging in from another machine fails: start the controller with <code>--tls-cert</code> and <code>--tls-key</code>, or put it behind an HTTPS proxy.</p>{{/plainHTTP}}
        {{/enabled}}
        {{^enabled}}<p>This controller was started without <code>--api-token</code>, so nobody can log in. Restart it with <code>--api-token env:NAME</code>.</p>{{/enabled}}
        </div></body></html>
        """#
}
