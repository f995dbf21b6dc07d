app-name = ombuds
lang-name = English
signin-title = Sign in
signin-login = Login
signin-password = Password
signin-submit = Sign in
signin-wrong = Wrong login or password.
signin-locked = Too many failed attempts. Try again in { $minutes ->
    [one] { $minutes } minute
   *[other] { $minutes } minutes
}.
signin-required = Enter your login.
signin-password-required = Enter your password.
csrf-failed = The form expired. Reload the page and try again.
signout = Sign out
queue-title = Queues
queue-mine = Mine
queue-unassigned = Unassigned
queue-waiting = Waiting on player
queue-breached = SLA breached
queue-escalated = Escalated
queue-triage = Triage
queue-empty = Nothing here.
queue-count = { $count ->
    [one] { $count } complaint
   *[other] { $count } complaints
}
col-reference = Reference
col-subject = Subject
col-status = Status
col-department = Department
col-priority = Priority
col-due = Next deadline
next-page = Next page
status-new = New
status-routed = Routed
status-in_progress = In progress
status-waiting_on_player = Waiting on player
status-resolved = Resolved
status-closed = Closed
priority-low = Low
priority-normal = Normal
priority-high = High
priority-urgent = Urgent
