app-name = ombuds
lang-name = Русский
signin-title = Вход
signin-login = Логин
signin-password = Пароль
signin-submit = Войти
signin-wrong = Неверный логин или пароль.
signin-locked = Слишком много неудачных попыток. Повторите через { $minutes ->
    [one] { $minutes } минуту
    [few] { $minutes } минуты
   *[many] { $minutes } минут
}.
signin-required = Введите логин.
signin-password-required = Введите пароль.
csrf-failed = Форма устарела. Обновите страницу и попробуйте снова.
signout = Выйти
queue-title = Очереди
queue-mine = Мои
queue-unassigned = Без исполнителя
queue-waiting = Ждут ответа игрока
queue-breached = Срок нарушен
queue-escalated = Эскалированы
queue-triage = Сортировка
queue-empty = Здесь пусто.
queue-count = { $count ->
    [one] { $count } обращение
    [few] { $count } обращения
   *[many] { $count } обращений
}
col-reference = Номер
col-subject = Тема
col-status = Статус
col-department = Отдел
col-priority = Приоритет
col-due = Ближайший срок
next-page = Дальше
status-new = Новое
status-routed = Направлено
status-in_progress = В работе
status-waiting_on_player = Ждёт ответа игрока
status-resolved = Решено
status-closed = Закрыто
priority-low = Низкий
priority-normal = Обычный
priority-high = Высокий
priority-urgent = Срочный
complaint-title = Обращение { $reference }
complaint-not-found = Такого обращения нет, или оно вам недоступно.
complaint-player = Игрок
complaint-thread = Переписка
complaint-history = История
complaint-sla = Сроки
complaint-suggestion = Классификатор предлагает отдел { $department } ({ $percent } %).
complaint-assignee = Исполнитель
complaint-nobody = не назначен
sla-first_response = Первый ответ
sla-resolution = Решение
sla-hard_limit = Предельный срок
sla-paused = Сроки остановлены: ждём ответа игрока.
msg-inbound = Игрок
msg-outbound = Ответ
msg-note = Внутренняя заметка
act-take = Взять в работу
act-reply = Ответить игроку
act-note = Добавить заметку
act-propose = Предложить решение
act-request = Запросить информацию
act-resolve = Решить
act-text = Текст
act-measures = Принятые меры
act-result = Результат для игрока
act-send = Отправить
act-failed = Не удалось: { $reason }
act-text-required = Сначала напишите текст.
help-title = Помощь
help-search = Поиск по ответам
help-search-button = Найти
help-no-results = Ничего не нашлось. Попробуйте другие слова или напишите нам.
help-empty = Статей пока нет.
help-helpful = Это помогло?
help-yes = Да
help-no = Нет
help-thanks = Спасибо, что сообщили.
help-back = Все ответы
