
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
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'calsync;login'= {
            cand -c 'Read the configuration from this TOML file'
            cand --config 'Read the configuration from this TOML file'
            cand --log-format 'Format of the log lines written to stderr'
            cand --color 'When to colour log lines: auto, always or never'
            cand --request-timeout 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)'
            cand --run-timeout 'How long a sync or validate may run in all (e.g. 30m)'
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
            cand --write-probe 'Also write: create one probe event in the target, then delete it'
            cand --json 'Print one JSON document with the checks on stdout'
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
        &'calsync;help;help'= {
        }
    ]
    $completions[$command]
}
