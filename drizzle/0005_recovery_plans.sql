CREATE TABLE `plan_run_items` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` integer NOT NULL,
	`object_key` text NOT NULL,
	`label` text NOT NULL,
	`group_no` integer NOT NULL,
	`state` text NOT NULL,
	`child_task_id` integer,
	`started_at` integer,
	`finished_at` integer,
	`ready_at` integer,
	`recovery_point_at` integer,
	`data_loss_sec` integer,
	`error` text,
	`created` text,
	FOREIGN KEY (`run_id`) REFERENCES `plan_runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `plan_run_items_uq` ON `plan_run_items` (`run_id`,`object_key`);--> statement-breakpoint
CREATE TABLE `plan_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`plan_id` integer,
	`plan_name` text NOT NULL,
	`kind` text NOT NULL,
	`direction` text NOT NULL,
	`task_id` integer,
	`reason` text NOT NULL,
	`plan` text NOT NULL,
	`prechecks` text,
	`started_by` text NOT NULL,
	`started_at` integer NOT NULL,
	`data_loss_sec` integer,
	`recovery_time_ms` integer,
	FOREIGN KEY (`plan_id`) REFERENCES `recovery_plans`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `plan_runs_plan_idx` ON `plan_runs` (`plan_id`,`id`);--> statement-breakpoint
CREATE TABLE `recovery_plan_items` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`plan_id` integer NOT NULL,
	`group_no` integer NOT NULL,
	`position` integer NOT NULL,
	`object_key` text NOT NULL,
	`kind` text NOT NULL,
	`replica_id` integer,
	`protected_site_id` integer NOT NULL,
	`recovery_site_id` integer NOT NULL,
	`pool` text,
	`namespace` text,
	`image` text,
	`wait_after_start_sec` integer DEFAULT 0 NOT NULL,
	`readiness` text,
	`depends_on` text NOT NULL,
	FOREIGN KEY (`plan_id`) REFERENCES `recovery_plans`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `recovery_plan_items_object_uq` ON `recovery_plan_items` (`object_key`);--> statement-breakpoint
CREATE INDEX `recovery_plan_items_plan_idx` ON `recovery_plan_items` (`plan_id`);--> statement-breakpoint
CREATE TABLE `recovery_plans` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`max_parallel` integer DEFAULT 4 NOT NULL,
	`question_timeout_sec` integer DEFAULT 600 NOT NULL,
	`question_default` text DEFAULT 'abort' NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `recovery_plans_name_uq` ON `recovery_plans` (`name`);