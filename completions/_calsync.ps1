
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'calsync' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'calsync'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'calsync' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Sign in and store the refresh token')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Remove the stored tokens')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Copy public events to the target calendar once')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check the target calendar against the source; write nothing')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'Show the last runs, newest first')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the settings in effect, sign-in state and the last run')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check the sign-in, permissions and calendars against the real tenant')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Say why an event is or is not published, and what runs did to it')
            [CompletionResult]::new('calendars', 'calendars', [CompletionResultType]::ParameterValue, 'List a mailbox''s calendars, to choose source_calendar and target_calendar')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'calsync;login' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('--device-code', '--device-code', [CompletionResultType]::ParameterName, 'Sign in as a user with the device-code flow (the default)')
            [CompletionResult]::new('--client-credentials', '--client-credentials', [CompletionResultType]::ParameterName, 'Check that the configured app secret (client_secret) obtains a token')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'calsync;logout' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'calsync;sync' {
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)')
            [CompletionResult]::new('--shards', '--shards', [CompletionResultType]::ParameterName, 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Write nothing to the target calendar; print the plan instead')
            [CompletionResult]::new('--full', '--full', [CompletionResultType]::ParameterName, 'Ignore incremental state and re-read the whole window')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Apply the plan even when it trips the mass-deletion guard')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document with the outcome on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'calsync;validate' {
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)')
            [CompletionResult]::new('--shards', '--shards', [CompletionResultType]::ParameterName, 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document with the problems on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'calsync;history' {
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)')
            [CompletionResult]::new('--shards', '--shards', [CompletionResultType]::ParameterName, 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'How many runs to show')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document (an array of runs) on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'calsync;status' {
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)')
            [CompletionResult]::new('--shards', '--shards', [CompletionResultType]::ParameterName, 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)')
            [CompletionResult]::new('--max-age', '--max-age', [CompletionResultType]::ParameterName, 'Exit 4 when the last successful sync is older than this (e.g. 90m, 2h, 1h30m, 1d)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'calsync;doctor' {
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)')
            [CompletionResult]::new('--shards', '--shards', [CompletionResultType]::ParameterName, 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('--write-probe', '--write-probe', [CompletionResultType]::ParameterName, 'Also write: create one probe event in the target, then delete it')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document with the checks on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'calsync;explain' {
            [CompletionResult]::new('--at', '--at', [CompletionResultType]::ParameterName, 'The day the event starts on (YYYY-MM-DD), instead of or beside TEXT')
            [CompletionResult]::new('--pair', '--pair', [CompletionResultType]::ParameterName, 'Look in this pair only (repeatable; all pairs when absent)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'calsync;calendars' {
            [CompletionResult]::new('--mailbox', '--mailbox', [CompletionResultType]::ParameterName, 'The mailbox whose calendars to list (default: the source mailbox, and the target mailbox when it is another)')
            [CompletionResult]::new('--pair', '--pair', [CompletionResultType]::ParameterName, 'The sides of this pair (repeatable; all pairs when absent)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read the configuration from this TOML file')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Format of the log lines written to stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour log lines: auto, always or never')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)')
            [CompletionResult]::new('--run-timeout', '--run-timeout', [CompletionResultType]::ParameterName, 'How long a sync or validate may run in all (e.g. 30m)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write each run''s metrics to this file, for node_exporter''s textfile collector')
            [CompletionResult]::new('--metrics-push-url', '--metrics-push-url', [CompletionResultType]::ParameterName, 'Push each run''s metrics to this Prometheus Pushgateway')
            [CompletionResult]::new('--ping-url', '--ping-url', [CompletionResultType]::ParameterName, 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Log errors only, and show no progress bars')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'calsync;help' {
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Sign in and store the refresh token')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Remove the stored tokens')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Copy public events to the target calendar once')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check the target calendar against the source; write nothing')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'Show the last runs, newest first')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the settings in effect, sign-in state and the last run')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check the sign-in, permissions and calendars against the real tenant')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Say why an event is or is not published, and what runs did to it')
            [CompletionResult]::new('calendars', 'calendars', [CompletionResultType]::ParameterValue, 'List a mailbox''s calendars, to choose source_calendar and target_calendar')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'calsync;help;login' {
            break
        }
        'calsync;help;logout' {
            break
        }
        'calsync;help;sync' {
            break
        }
        'calsync;help;validate' {
            break
        }
        'calsync;help;history' {
            break
        }
        'calsync;help;status' {
            break
        }
        'calsync;help;doctor' {
            break
        }
        'calsync;help;explain' {
            break
        }
        'calsync;help;calendars' {
            break
        }
        'calsync;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
