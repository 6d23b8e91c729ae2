
use builtin;
use str;

set edit:completion:arg-completer[calsync] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'calsync'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'calsync'= {
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand login 'Sign in and store the refresh token'
            cand logout 'Remove the stored tokens'
            cand sync 'Copy public events to the target calendar once'
            cand validate 'Check the target calendar against the source; write nothing'
            cand history 'Show the last runs, newest first'
            cand status 'Show the settings in effect, sign-in state and the last run'
            cand doctor 'Check the sign-in, permissions and calendars against the real tenant'
            cand explain 'Say why an event is or is not published, and what runs did to it'
            cand calendars 'List a mailbox''s calendars, to choose source_calendar and target_calendar'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'calsync;login'= {
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand --device-code 'Sign in as a user with the device-code flow (the default)'
            cand --client-credentials 'Check that the configured app secret (client_secret) obtains a token'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'calsync;logout'= {
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'calsync;sync'= {
            cand --shard 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)'
            cand --shards 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)'
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand --dry-run 'Write nothing to the target calendar; print the plan instead'
            cand --full 'Ignore incremental state and re-read the whole window'
            cand --force 'Apply the plan even when it trips the mass-deletion guard'
            cand --json 'Print one JSON document with the outcome on stdout'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'calsync;validate'= {
            cand --shard 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)'
            cand --shards 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)'
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand --json 'Print one JSON document with the problems on stdout'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'calsync;history'= {
            cand --shard 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)'
            cand --shards 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)'
            cand --limit 'How many runs to show'
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand --json 'Print one JSON document (an array of runs) on stdout'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'calsync;status'= {
            cand --shard 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)'
            cand --shards 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)'
            cand --max-age 'Exit 4 when the last successful sync is older than this (e.g. 90m, 2h, 1h30m, 1d)'
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand --json 'Print one JSON document on stdout'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'calsync;doctor'= {
            cand --shard 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)'
            cand --shards 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)'
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand --write-probe 'Also write: create one probe event in the target, then delete it'
            cand --json 'Print one JSON document with the checks on stdout'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'calsync;explain'= {
            cand --at 'The day the event starts on (YYYY-MM-DD), instead of or beside TEXT'
            cand --pair 'Look in this pair only (repeatable; all pairs when absent)'
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand --json 'Print one JSON document on stdout'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'calsync;calendars'= {
            cand --mailbox 'The mailbox whose calendars to list (default: the source mailbox, and the target mailbox when it is another)'
            cand --pair 'The sides of this pair (repeatable; all pairs when absent)'
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
            cand --metrics-file 'Write each run''s metrics to this file, for node_exporter''s textfile collector'
            cand --metrics-push-url 'Push each run''s metrics to this Prometheus Pushgateway'
            cand --ping-url 'Ping this dead-man''s-switch URL when a sync starts, succeeds or fails'
            cand --json 'Print one JSON document on stdout'
            cand -v 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand --verbose 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
            cand -q 'Log errors only, and show no progress bars'
            cand --quiet 'Log errors only, and show no progress bars'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'calsync;help'= {
            cand login 'Sign in and store the refresh token'
            cand logout 'Remove the stored tokens'
            cand sync 'Copy public events to the target calendar once'
            cand validate 'Check the target calendar against the source; write nothing'
            cand history 'Show the last runs, newest first'
            cand status 'Show the settings in effect, sign-in state and the last run'
            cand doctor 'Check the sign-in, permissions and calendars against the real tenant'
            cand explain 'Say why an event is or is not published, and what runs did to it'
            cand calendars 'List a mailbox''s calendars, to choose source_calendar and target_calendar'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'calsync;help;login'= {
        }
        &'calsync;help;logout'= {
        }
        &'calsync;help;sync'= {
        }
        &'calsync;help;validate'= {
        }
        &'calsync;help;history'= {
        }
        &'calsync;help;status'= {
        }
        &'calsync;help;doctor'= {
        }
        &'calsync;help;explain'= {
        }
        &'calsync;help;calendars'= {
        }
        &'calsync;help;help'= {
        }
    ]
    $completions[$command]
}
