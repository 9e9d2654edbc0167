# bash completion for whatif
_whatif() {
    local cur prev words cword
    _init_completion 2>/dev/null || { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; }
    local subcommands="run show diff apply exec explore check list discard gc profiles hook"
    case "$prev" in
        -p|--profile) COMPREPLY=($(compgen -W "$(whatif profiles 2>/dev/null | awk '{print $1}')" -- "$cur")); return ;;
        --format) COMPREPLY=($(compgen -W "text json markdown" -- "$cur")); return ;;
        --net) COMPREPLY=($(compgen -W "stub none host" -- "$cur")); return ;;
        --exit-status) COMPREPLY=($(compgen -W "decision command" -- "$cur")); return ;;
        hook) COMPREPLY=($(compgen -W "claude-code codex gemini cursor" -- "$cur")); return ;;
        show|diff|apply|exec|explore|check|discard) COMPREPLY=($(compgen -W "last $(whatif list 2>/dev/null | awk '{print $1}')" -- "$cur")); return ;;
    esac
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "$subcommands --help --version" -- "$cur"))
        [[ -z $cur || $cur == -* ]] || COMPREPLY+=($(compgen -c -- "$cur"))
        return
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "-p --profile --net -n --no-apply -y --yes --format --report --timeout --background-grace --background --exit-status -C --cwd -v --only --exclude --force --keep-privileges --abort --edit" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -c -- "$cur") $(compgen -f -- "$cur"))
}
complete -F _whatif whatif
