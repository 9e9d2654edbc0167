# fish completion for whatif
set -l subcommands run show diff apply exec explore check list discard gc profiles hook
complete -c whatif -f -n "not __fish_seen_subcommand_from $subcommands" -a "$subcommands"
complete -c whatif -s p -l profile -x -a "(whatif profiles 2>/dev/null | string split -f1 ' ')" -d 'policy profile'
complete -c whatif -l net -x -a 'stub none host' -d 'network mode'
complete -c whatif -s n -l no-apply -d 'never apply or prompt'
complete -c whatif -s y -l yes -d 'apply when the decision is allow'
complete -c whatif -l format -x -a 'text json markdown' -d 'report format'
complete -c whatif -l report -r -d 'also write the JSON effect set'
complete -c whatif -l timeout -x -d 'kill the dry run after DURATION'
complete -c whatif -l background-grace -x -d 'how long what the command leaves running may go on'
complete -c whatif -l background -d 'the command is meant to run in the background'
complete -c whatif -l exit-status -x -a 'decision command'
complete -c whatif -s C -l cwd -x -a '(__fish_complete_directories)'
complete -c whatif -n "__fish_seen_subcommand_from hook" -x -a 'claude-code codex gemini cursor'
complete -c whatif -n "__fish_seen_subcommand_from show diff apply exec explore check discard" -x -a "last (whatif list 2>/dev/null | string split -f1 ' ')"
