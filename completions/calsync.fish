# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_calsync_global_optspecs
    string join \n c/config= log-format= color= v/verbose request-timeout= run-timeout= metrics-file= metrics-push-url= ping-url= q/quiet h/help V/version
end

function __fish_calsync_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_calsync_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_calsync_using_subcommand
    set -l cmd (__fish_calsync_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c calsync -n "__fish_calsync_needs_command" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_needs_command" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_needs_command" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_needs_command" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_needs_command" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_needs_command" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_needs_command" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_needs_command" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_needs_command" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_needs_command" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_needs_command" -s V -l version -d 'Print version'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "login" -d 'Sign in and store the refresh token'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "logout" -d 'Remove the stored tokens'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "sync" -d 'Copy public events to the target calendar once'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "validate" -d 'Check the target calendar against the source; write nothing'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "history" -d 'Show the last runs, newest first'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "status" -d 'Show the settings in effect, sign-in state and the last run'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "doctor" -d 'Check the sign-in, permissions and calendars against the real tenant'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "explain" -d 'Say why an event is or is not published, and what runs did to it'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "calendars" -d 'List a mailbox\'s calendars, to choose source_calendar and target_calendar'
complete -c calsync -n "__fish_calsync_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c calsync -n "__fish_calsync_using_subcommand login" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand login" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_using_subcommand login" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_using_subcommand login" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_using_subcommand login" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_using_subcommand login" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand login" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_using_subcommand login" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_using_subcommand login" -l device-code -d 'Sign in as a user with the device-code flow (the default)'
complete -c calsync -n "__fish_calsync_using_subcommand login" -l client-credentials -d 'Check that the configured app secret (client_secret) obtains a token'
complete -c calsync -n "__fish_calsync_using_subcommand login" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_using_subcommand login" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_using_subcommand logout" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand logout" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_using_subcommand logout" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_using_subcommand logout" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_using_subcommand logout" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_using_subcommand logout" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand logout" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_using_subcommand logout" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_using_subcommand logout" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_using_subcommand logout" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_using_subcommand logout" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l shard -d 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)' -r
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l shards -d 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)' -r
complete -c calsync -n "__fish_calsync_using_subcommand sync" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l dry-run -d 'Write nothing to the target calendar; print the plan instead'
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l full -d 'Ignore incremental state and re-read the whole window'
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l force -d 'Apply the plan even when it trips the mass-deletion guard'
complete -c calsync -n "__fish_calsync_using_subcommand sync" -l json -d 'Print one JSON document with the outcome on stdout'
complete -c calsync -n "__fish_calsync_using_subcommand sync" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_using_subcommand sync" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_using_subcommand sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l shard -d 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)' -r
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l shards -d 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)' -r
complete -c calsync -n "__fish_calsync_using_subcommand validate" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_using_subcommand validate" -l json -d 'Print one JSON document with the problems on stdout'
complete -c calsync -n "__fish_calsync_using_subcommand validate" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_using_subcommand validate" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_using_subcommand history" -l shard -d 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)' -r
complete -c calsync -n "__fish_calsync_using_subcommand history" -l shards -d 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)' -r
complete -c calsync -n "__fish_calsync_using_subcommand history" -l limit -d 'How many runs to show' -r
complete -c calsync -n "__fish_calsync_using_subcommand history" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand history" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_using_subcommand history" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_using_subcommand history" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_using_subcommand history" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_using_subcommand history" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand history" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_using_subcommand history" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_using_subcommand history" -l json -d 'Print one JSON document (an array of runs) on stdout'
complete -c calsync -n "__fish_calsync_using_subcommand history" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_using_subcommand history" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_using_subcommand history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_using_subcommand status" -l shard -d 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)' -r
complete -c calsync -n "__fish_calsync_using_subcommand status" -l shards -d 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)' -r
complete -c calsync -n "__fish_calsync_using_subcommand status" -l max-age -d 'Exit 4 when the last successful sync is older than this (e.g. 90m, 2h, 1h30m, 1d)' -r
complete -c calsync -n "__fish_calsync_using_subcommand status" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand status" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_using_subcommand status" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_using_subcommand status" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_using_subcommand status" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_using_subcommand status" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand status" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_using_subcommand status" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_using_subcommand status" -l json -d 'Print one JSON document on stdout'
complete -c calsync -n "__fish_calsync_using_subcommand status" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_using_subcommand status" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l shard -d 'Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4)' -r
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l shards -d 'Split the pairs into N shards; this process runs the one JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it)' -r
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l write-probe -d 'Also write: create one probe event in the target, then delete it'
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -l json -d 'Print one JSON document with the checks on stdout'
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l at -d 'The day the event starts on (YYYY-MM-DD), instead of or beside TEXT' -r
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l pair -d 'Look in this pair only (repeatable; all pairs when absent)' -r
complete -c calsync -n "__fish_calsync_using_subcommand explain" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_using_subcommand explain" -l json -d 'Print one JSON document on stdout'
complete -c calsync -n "__fish_calsync_using_subcommand explain" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_using_subcommand explain" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_using_subcommand explain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l mailbox -d 'The mailbox whose calendars to list (default: the source mailbox, and the target mailbox when it is another)' -r
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l pair -d 'The sides of this pair (repeatable; all pairs when absent)' -r
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -s c -l config -d 'Read the configuration from this TOML file' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l log-format -d 'Format of the log lines written to stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l color -d 'When to colour log lines: auto, always or never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set or TERM is "dumb"'
always\t'Always, even into a pipe or a file'
never\t'Never'"
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l request-timeout -d 'How long one request to Graph or the sign-in endpoint may take (e.g. 30s)' -r
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l run-timeout -d 'How long a sync or validate may run in all (e.g. 30m)' -r
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l metrics-file -d 'Write each run\'s metrics to this file, for node_exporter\'s textfile collector' -r -F
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l metrics-push-url -d 'Push each run\'s metrics to this Prometheus Pushgateway' -r
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l ping-url -d 'Ping this dead-man\'s-switch URL when a sync starts, succeeds or fails' -r
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -l json -d 'Print one JSON document on stdout'
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -s v -l verbose -d 'Log more: -v info, -vv debug, -vvv trace (the default is warnings)'
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -s q -l quiet -d 'Log errors only, and show no progress bars'
complete -c calsync -n "__fish_calsync_using_subcommand calendars" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "login" -d 'Sign in and store the refresh token'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "logout" -d 'Remove the stored tokens'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "sync" -d 'Copy public events to the target calendar once'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "validate" -d 'Check the target calendar against the source; write nothing'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "history" -d 'Show the last runs, newest first'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "status" -d 'Show the settings in effect, sign-in state and the last run'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "doctor" -d 'Check the sign-in, permissions and calendars against the real tenant'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "explain" -d 'Say why an event is or is not published, and what runs did to it'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "calendars" -d 'List a mailbox\'s calendars, to choose source_calendar and target_calendar'
complete -c calsync -n "__fish_calsync_using_subcommand help; and not __fish_seen_subcommand_from login logout sync validate history status doctor explain calendars help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
